"""The archive's Parquet files: ranges that never overlap, atomic rewrites, reads by user."""

from __future__ import annotations

from pathlib import Path

import pytest

from pulserec.storage.archive import ROW_GROUP, LogArchive
from pulserec.storage.base import StoredEvent
from pulserec.types import Event


def stored(seq: int, user: str, t: float | None = None, eid: str | None = None) -> StoredEvent:
    text = "a query" if seq % 5 == 0 else None
    kind = "search" if text else "click"
    item = None if text else f"i{seq % 7}"
    return StoredEvent(seq, Event(user, item, kind, t if t is not None else float(seq),
                                  value=1.5 if seq % 2 else None, text=text, event_id=eid),
                       spam=seq % 11 == 0)  # fmt: skip


def test_files_round_trip_every_field_in_sequence_order(tmp_path: Path) -> None:
    archive = LogArchive(tmp_path / "a")
    assert archive.files() == [] and archive.last_seq() == 0 and list(archive.events()) == []
    first = [stored(s, f"u{s % 3}", eid=f"e{s}") for s in range(1, 40) if s != 20]
    second = [stored(s, f"u{s % 4}") for s in range(41, 60)]
    archive.write(first, lo=1, hi=40)
    archive.write(second, lo=41, hi=60)
    assert list(archive.events()) == first + second
    assert list(archive.events(after_seq=30, upto=45)) == [s for s in first + second
                                                           if 30 < s.seq <= 45]  # fmt: skip
    assert archive.last_seq() == 60 and archive.count() == len(first) + len(second)
    assert archive.user_events("u1") == [s for s in first + second if s.event.user_id == "u1"]
    assert archive.event_ids(after_seq=5, upto=8) == [(6, "e6"), (7, "e7"), (8, "e8")]
    assert oct((tmp_path / "a").stat().st_mode & 0o777) == "0o700"


def test_a_range_that_overlaps_the_archive_is_refused(tmp_path: Path) -> None:
    archive = LogArchive(tmp_path)
    archive.write([stored(1, "u")], lo=1, hi=10)
    with pytest.raises(ValueError, match="must start after the archive's last sequence number 10"):
        archive.write([stored(10, "u")], lo=10, hi=12)
    with pytest.raises(ValueError, match="outside the archive range 11-12"):
        archive.write([stored(13, "u")], lo=11, hi=12)
    assert [(f.lo, f.hi) for f in archive.files()] == [(1, 10)]


def test_removing_a_user_rewrites_only_their_files_and_keeps_the_ranges(tmp_path: Path) -> None:
    archive = LogArchive(tmp_path)
    # many users over several row groups, so a user's read skips most of each file
    big = [stored(s, f"user-{s % 5000:05d}") for s in range(1, 3 * ROW_GROUP)]
    archive.write(big, lo=1, hi=3 * ROW_GROUP)
    archive.write([stored(3 * ROW_GROUP + 1, "zed")], lo=3 * ROW_GROUP + 1, hi=3 * ROW_GROUP + 1)
    untouched = archive.files()[0].path.stat().st_mtime_ns
    removed = archive.remove_user("zed")
    assert [s.event.user_id for s in removed] == ["zed"]
    assert [(f.lo, f.hi) for f in archive.files()] == [(1, 3 * ROW_GROUP), (3 * ROW_GROUP + 1,) * 2]
    assert archive.files()[0].path.stat().st_mtime_ns == untouched
    assert archive.last_seq() == 3 * ROW_GROUP + 1 and archive.files()[1].path.exists()
    mine = archive.remove_user("user-00042")
    assert [s.seq for s in mine] == list(range(42, 3 * ROW_GROUP, 5000))
    assert list(archive.events()) == [s for s in big if s.event.user_id != "user-00042"]
    assert archive.remove_user("nobody") == []


def test_a_temporary_file_of_a_crashed_write_is_ignored_then_removed(tmp_path: Path) -> None:
    archive = LogArchive(tmp_path)
    archive.write([stored(1, "u")], lo=1, hi=1)
    leftover = tmp_path / ".tmp-0123-events-00000000000000000002-00000000000000000003.parquet"
    leftover.write_bytes(b"half a file")
    assert [s.seq for s in archive.events()] == [1] and archive.last_seq() == 1
    archive.write([stored(2, "u")], lo=2, hi=3)
    assert not leftover.exists() and [s.seq for s in archive.events()] == [1, 2]
