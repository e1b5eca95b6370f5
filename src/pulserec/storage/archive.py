"""The archived part of an event log: Parquet files beside the live log.

A log whose oldest events have been archived (:mod:`pulserec.storage.redis_archive`) is
read as these files, then the live log after them. Each file is named by the range of
sequence numbers it covers, ``events-<lo>-<hi>.parquet`` (20 digits each, so names sort
by range), and holds every event of that range the log held when it was archived, less
the users deleted since. The ranges follow one another without overlap from 1 up to
:meth:`LogArchive.last_seq`: a sequence number at or below it is read from the archive
and never from the live log, which is what makes archiving idempotent.

Inside a file, rows are sorted by user, then sequence number, in row groups of
:data:`ROW_GROUP` rows: a user's rows sit in one or two row groups, whose min/max
statistics let a user's read or deletion skip the others without reading them.

Every write is atomic: a private temporary file in the same folder, fsynced, renamed over
the final name, then the folder fsynced. A crash leaves the old file or the new one, and
perhaps a temporary file, which readers ignore and the next write removes.

Examples
--------
>>> import tempfile
>>> from pulserec.storage.base import StoredEvent
>>> from pulserec.types import Event
>>> with tempfile.TemporaryDirectory() as tmp:
...     archive = LogArchive(Path(tmp))
...     _ = archive.write([StoredEvent(2, Event("b", "x", "click", 5.0)),
...                        StoredEvent(3, Event("a", "y", "click", 6.0))], lo=1, hi=3)
...     [(s.seq, s.event.user_id) for s in archive.events()], archive.last_seq()
([(2, 'b'), (3, 'a')], 3)
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pulserec.storage.base import StoredEvent
from pulserec.storage.files import FILE_MODE, private_dir
from pulserec.types import Event

ARCHIVE_SCHEMA: Final = pa.schema(
    [
        ("seq", pa.int64()),
        ("event_id", pa.string()),
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("type", pa.string()),
        ("timestamp", pa.float64()),
        ("value", pa.float64()),
        ("text", pa.string()),
        ("spam", pa.bool_()),
    ]
)
"""The columns of an archive file: an event as the log holds it, with its sequence number."""

ROW_GROUP: Final[int] = 16_384
"""Rows per row group: what a user's read or deletion reads of a file holding them."""

FILE_NAME: Final = re.compile(r"^events-(\d{20})-(\d{20})\.parquet$")
TEMP_PREFIX: Final[str] = ".tmp-"


@dataclass(frozen=True, slots=True)
class ArchiveFile:
    """One archive file: the sequence numbers ``lo`` to ``hi`` (inclusive) of the log."""

    lo: int
    hi: int
    path: Path


def file_name(lo: int, hi: int) -> str:
    """The name of the file covering ``lo`` to ``hi``."""
    return f"events-{lo:020d}-{hi:020d}.parquet"


def to_table(events: Sequence[StoredEvent]) -> pa.Table:
    """Stored events as an archive table (in the order given)."""
    return pa.table(
        {
            "seq": pa.array([s.seq for s in events], pa.int64()),
            "event_id": pa.array([s.event.event_id for s in events], pa.string()),
            "user_id": pa.array([s.event.user_id for s in events], pa.string()),
            "item_id": pa.array([s.event.item_id for s in events], pa.string()),
            "type": pa.array([s.event.type for s in events], pa.string()),
            "timestamp": pa.array([float(s.event.timestamp) for s in events], pa.float64()),
            "value": pa.array([s.event.value for s in events], pa.float64()),
            "text": pa.array([s.event.text for s in events], pa.string()),
            "spam": pa.array([bool(s.spam) for s in events], pa.bool_()),
        },
        schema=ARCHIVE_SCHEMA,
    )


def from_table(table: pa.Table) -> Iterator[StoredEvent]:
    """The rows of an archive table as stored events, in the table's order."""
    for batch in table.to_batches(max_chunksize=10_000):
        cols = batch.to_pydict()
        rows = zip(
            cols["seq"], cols["event_id"], cols["user_id"], cols["item_id"], cols["type"],
            cols["timestamp"], cols["value"], cols["text"], cols["spam"], strict=True,
        )  # fmt: skip
        for seq, eid, uid, iid, typ, ts, value, text, spam in rows:
            yield StoredEvent(seq, Event(uid, iid, typ, ts, value, text, eid), bool(spam))


class LogArchive:
    """The archive files of one log, in one folder.

    Parameters
    ----------
    folder : Path
        Created (0700) at the first write; its files are 0600. Readers of a folder that
        does not exist see an empty archive.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def files(self) -> list[ArchiveFile]:
        """Every archive file, in sequence order."""
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            match = FILE_NAME.match(name)
            if match:
                lo, hi = int(match.group(1)), int(match.group(2))
                found.append(ArchiveFile(lo, hi, self.folder / name))
        return sorted(found, key=lambda f: f.lo)

    def last_seq(self) -> int:
        """The highest sequence number the archive covers; 0 when it is empty."""
        files = self.files()
        return files[-1].hi if files else 0

    def count(self) -> int:
        """How many events the archive holds (read from the files' footers)."""
        return sum(self.rows(f) for f in self.files())

    def rows(self, f: ArchiveFile) -> int:
        """How many events one file holds (its footer)."""
        return int(pq.read_metadata(f.path).num_rows)

    # ------------------------------------------------------------------ reads
    def events(
        self, *, after_seq: int = 0, upto: int | None = None, since_ts: float | None = None
    ) -> Iterator[StoredEvent]:
        """The archived events after ``after_seq`` (and up to ``upto``, and stamped at
        ``since_ts`` or later), in sequence order.

        With ``since_ts``, a file or row group whose timestamp statistics end before it is
        not read, and the rest are filtered before any row becomes an event.
        """
        for f in self.files():
            if f.hi <= after_seq:
                continue
            if upto is not None and f.lo > upto:
                return
            if since_ts is None:
                table = pq.read_table(f.path, schema=ARCHIVE_SCHEMA)
            else:
                with pq.ParquetFile(f.path) as parquet:
                    ends = _newest(parquet)
                    groups = [g for g, top in enumerate(ends) if top is None or top >= since_ts]
                    if not groups:
                        continue
                    table = parquet.read_row_groups(groups).cast(ARCHIVE_SCHEMA)
            seqs = table.column("seq")
            keep = pc.greater(seqs, after_seq)
            if upto is not None:
                keep = pc.and_(keep, pc.less_equal(seqs, upto))
            if since_ts is not None:
                keep = pc.and_(keep, pc.greater_equal(table.column("timestamp"), since_ts))
            yield from from_table(table.filter(keep).sort_by("seq"))

    def newest_timestamp(self, floor: float | None = None) -> float | None:
        """The latest timestamp of the archived events that are not spam, if later than
        ``floor``; else None.

        Row groups are read (their ``timestamp`` and ``spam`` columns only) from the one
        whose statistics end latest, until the next one's end is no later than what was
        found: mostly one row group of the newest file.
        """
        groups: list[tuple[float, int, Path]] = []
        for f in self.files():
            with pq.ParquetFile(f.path) as parquet:
                for g, top in enumerate(_newest(parquet)):
                    groups.append((float("inf") if top is None else top, g, f.path))
        best = floor
        for top, g, path in sorted(groups, key=lambda t: -t[0]):
            if best is not None and top <= best:
                break
            with pq.ParquetFile(path) as parquet:
                rows = parquet.read_row_group(g, columns=["timestamp", "spam"])
            times = rows.column("timestamp").filter(pc.invert(rows.column("spam")))
            found = pc.max(times).as_py()
            if found is not None and (best is None or found > best):
                best = float(found)
        return None if best is None or best == floor else best

    def user_events(self, user_id: str) -> list[StoredEvent]:
        """One user's archived events, in sequence order (reads only their row groups)."""
        out: list[StoredEvent] = []
        for f in self.files():
            table = self._user_rows(f, user_id)
            if table is not None:
                out += from_table(table)
        return sorted(out, key=lambda s: s.seq)

    def event_ids(self, *, after_seq: int, upto: int) -> list[tuple[int, str]]:
        """``(seq, event_id)`` of the archived events after ``after_seq`` up to ``upto`` that
        carry an event id (reads those two columns only)."""
        out: list[tuple[int, str]] = []
        for f in self.files():
            if f.hi <= after_seq or f.lo > upto:
                continue
            table = pq.read_table(f.path, columns=["seq", "event_id"])
            seqs = table.column("seq")
            keep = pc.and_(pc.greater(seqs, after_seq), pc.less_equal(seqs, upto))
            keep = pc.and_(keep, pc.is_valid(table.column("event_id")))
            rows = table.filter(keep).to_pydict()
            out += zip(rows["seq"], rows["event_id"], strict=True)
        return out

    def user_ids(self, f: ArchiveFile) -> set[str]:
        """The users with events in one file."""
        column = pq.read_table(f.path, columns=["user_id"]).column("user_id")
        return {str(u) for u in pc.unique(column).to_pylist()}

    def _user_rows(self, f: ArchiveFile, user_id: str) -> pa.Table | None:
        """The user's rows of a file, or None when it holds none."""
        with pq.ParquetFile(f.path) as parquet:
            groups = [g for g in range(parquet.num_row_groups) if _may_hold(parquet, g, user_id)]
            if not groups:
                return None
            table = parquet.read_row_groups(groups)
        rows = table.filter(pc.equal(table.column("user_id"), user_id))
        return rows if rows.num_rows else None

    # ----------------------------------------------------------------- writes
    def write(self, events: Sequence[StoredEvent], lo: int, hi: int) -> ArchiveFile:
        """Write the events of sequence numbers ``lo`` to ``hi`` as one new file, atomically.

        ``lo`` must follow the archive's last sequence number, so ranges never overlap;
        ``events`` may hold fewer numbers than the range (deleted users, gaps).
        """
        last = self.last_seq()
        if lo <= last or hi < lo:
            raise ValueError(
                f"archive range {lo}-{hi} must start after the archive's last sequence "
                f"number {last} and not end before it starts"
            )
        outside = [s.seq for s in events if not lo <= s.seq <= hi]
        if outside:
            raise ValueError(f"events {outside[:5]} lie outside the archive range {lo}-{hi}")
        target = self.folder / file_name(lo, hi)
        self._write_atomic(to_table(events), target)
        return ArchiveFile(lo, hi, target)

    def remove_user(self, user_id: str) -> list[StoredEvent]:
        """Rewrite every file holding the user's events without them (each atomically).

        A file left empty stays, so the ranges still tell which numbers are archived.
        Returns the removed events, in sequence order.
        """
        removed: list[StoredEvent] = []
        for f in self.files():
            if self._user_rows(f, user_id) is None:
                continue
            table = pq.read_table(f.path, schema=ARCHIVE_SCHEMA)
            mine = pc.equal(table.column("user_id"), user_id)
            removed += from_table(table.filter(mine))
            self._write_atomic(table.filter(pc.invert(mine)), f.path)
        return sorted(removed, key=lambda s: s.seq)

    def expire(self, before_ts: float) -> list[StoredEvent]:
        """Remove every archived event stamped before ``before_ts`` (the archive's
        retention), rewriting each file that holds one (atomically); files whose
        timestamp statistics start at or after it are not read. A file left empty stays,
        as after :meth:`remove_user`. Returns the removed events, in sequence order."""
        removed: list[StoredEvent] = []
        for f in self.files():
            with pq.ParquetFile(f.path) as parquet:
                starts = _oldest(parquet)
                if parquet.metadata.num_rows == 0 or all(
                    start is not None and start >= before_ts for start in starts
                ):
                    continue
            table = pq.read_table(f.path, schema=ARCHIVE_SCHEMA)
            old = pc.less(table.column("timestamp"), before_ts)
            if not pc.any(old).as_py():
                continue
            removed += from_table(table.filter(old))
            self._write_atomic(table.filter(pc.invert(old)), f.path)
        return sorted(removed, key=lambda s: s.seq)

    def _write_atomic(self, table: pa.Table, target: Path) -> None:
        private_dir(self.folder)
        self._remove_temporaries()
        table = table.sort_by([("user_id", "ascending"), ("seq", "ascending")])
        temp = self.folder / f"{TEMP_PREFIX}{secrets.token_hex(8)}-{target.name}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)
            with os.fdopen(fd, "wb") as out:
                pq.write_table(table, out, row_group_size=ROW_GROUP, compression="zstd")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _remove_temporaries(self) -> None:
        """Delete temporary files a crashed write left (one writer at a time: the caller's
        lock; see :mod:`pulserec.storage.redis_archive`)."""
        for name in os.listdir(self.folder):
            if name.startswith(TEMP_PREFIX):
                (self.folder / name).unlink(missing_ok=True)


def _newest(parquet: pq.ParquetFile) -> list[float | None]:
    """Each row group's latest timestamp by its statistics (None: no statistics)."""
    return _timestamp_stats(parquet, "max")


def _oldest(parquet: pq.ParquetFile) -> list[float | None]:
    """Each row group's earliest timestamp by its statistics (None: no statistics)."""
    return _timestamp_stats(parquet, "min")


def _timestamp_stats(parquet: pq.ParquetFile, end: str) -> list[float | None]:
    column = parquet.schema_arrow.get_field_index("timestamp")
    out: list[float | None] = []
    for g in range(parquet.num_row_groups):
        stats = parquet.metadata.row_group(g).column(column).statistics
        has = stats is not None and stats.has_min_max
        out.append(float(getattr(stats, end)) if has else None)
    return out


def _may_hold(parquet: pq.ParquetFile, group: int, user_id: str) -> bool:
    """Whether a row group's user_id statistics allow the user (True when it has none)."""
    schema = parquet.schema_arrow
    column = parquet.metadata.row_group(group).column(schema.get_field_index("user_id"))
    stats = column.statistics
    if stats is None or not stats.has_min_max:
        return True
    return bool(stats.min <= user_id <= stats.max)
