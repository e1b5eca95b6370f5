"""Archiving a Redis log: events older than a retention window move to Parquet files.

:func:`archive_log` (run by ``pulserec worker`` after each refit, and by ``pulserec
archive-events``) writes the log's oldest events to a new file of a
:class:`~pulserec.storage.archive.LogArchive` and only then trims them from
``<prefix>:log`` and from each of their users' streams (``XTRIM MINID``); a user's stream
left empty is deleted. Readers of the whole log (:meth:`RedisStorage.events` without a
user: refits, exports, a process's start) read the files, then the live log after them;
a user's stream, which restores their real-time state, keeps the retained window only.

What is archived: the longest run of the log, from the archive's end on, whose events are
all older than ``retention_s`` by their timestamp, so an event newer than the window never
leaves Redis (an old-dated event behind a newer one waits for it).

Keys, beside the storage's own (all under its prefix):

- ``archive``: the archive folder's absolute path, recorded at the first run; every
  process that opens the storage finds the archive there (a refit reads it, a user's
  deletion rewrites it), so the folder must be at that path on each of their hosts;
- ``archived_seq``: the highest sequence number trimmed from the log, set in the same
  script as the trim; ``archived_events``: how many events the files hold;
- ``archive_lock``: one archive run or rewrite at a time (it expires if its holder dies);
- ``seq_marks``: the log's sequence counter as each run found it, by Redis's clock, and
  ``eids_seq``: up to which sequence number the archived events' ids left ``eids``.

Crash safety: a file is complete on disk (fsynced, renamed) before anything is trimmed,
and sequence numbers up to the archive's last one are read from the files only. A run
that died between its file and its trim is finished by the next one (it trims what the
files past ``archived_seq`` hold), which then carries on after the files: nothing is
lost, nothing is read twice, nothing is written twice.

Event ids: an id stays in ``eids`` (a retried append carrying it is refused) until its
event is archived *and* arrived more than ``retention_s`` ago, which ``seq_marks`` tells:
a run that found the counter at ``n`` at time ``t`` proves every event up to ``n`` arrived
by ``t``. Old-dated events archived soon after they arrived keep their id meanwhile.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from pulserec.storage.archive import LogArchive
from pulserec.storage.base import StorageUnavailable, StoredEvent

if TYPE_CHECKING:
    from pulserec.storage.redis import RedisStorage

log = logging.getLogger("pulserec.storage")

MAX_EVENTS: Final[int] = 500_000
"""Most events in one archive file (one step of a run; the lock is released between)."""

LOCK_TTL_MS: Final[int] = 120_000
"""The archive lock expires this long after its holder last renewed it."""

LOCK_WAIT_S: Final[float] = 60.0
"""How long a user's deletion waits for an archive run to release the lock."""

_BATCH: Final[int] = 1000
_PAGE: Final[int] = 1000

_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_TRIM_USERS = """
local p, token, minid = ARGV[1], ARGV[2], ARGV[3]
if redis.call('GET', p .. ':archive_lock') ~= token then return -1 end
for i = 4, #ARGV do
  local key = p .. ':u:' .. ARGV[i]
  redis.call('XTRIM', key, 'MINID', minid)
  if redis.call('XLEN', key) == 0 then redis.call('DEL', key) end
end
return #ARGV - 3
"""

_FINISH = """
local p, token, minid, hi, n = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('GET', p .. ':archive_lock') ~= token then return -1 end
redis.call('XTRIM', p .. ':log', 'MINID', minid)
if tonumber(redis.call('GET', p .. ':archived_seq') or '0') < tonumber(hi) then
  redis.call('SET', p .. ':archived_seq', hi)
  redis.call('INCRBY', p .. ':archived_events', n)
end
return 1
"""

_DROP_IDS = """
local p, token = ARGV[1], ARGV[2]
if redis.call('GET', p .. ':archive_lock') ~= token then return -1 end
local n = 0
for i = 3, #ARGV, 2 do
  if redis.call('HGET', p .. ':eids', ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', p .. ':eids', ARGV[i])
    n = n + 1
  end
end
return n
"""


@dataclass
class ArchiveReport:
    """What one :func:`archive_log` call did."""

    files: list[Path] = field(default_factory=list)
    events: int = 0
    recovered: int = 0
    """Events of a crashed run's file whose trim this run finished."""
    ids_dropped: int = 0
    expired: int = 0
    """Archived events removed for being older than ``keep_s`` (the archive's retention)."""
    seconds: float = 0.0
    busy: bool = False
    """Another run or a deletion held the archive: this run stopped there."""


class ArchiveLock:
    """The archive's lock in Redis: one run or rewrite at a time, renewed as it goes."""

    def __init__(self, storage: RedisStorage) -> None:
        self.storage = storage
        self.key = storage.key("archive_lock")
        self.token = secrets.token_hex(8)
        self._renew = storage.client.register_script(_RENEW)
        self._release = storage.client.register_script(_RELEASE)

    def acquire(self, wait_s: float = 0.0) -> bool:
        """Take the lock, waiting up to ``wait_s`` for its holder; True when taken."""
        deadline = time.monotonic() + wait_s
        delay = 0.01
        while True:
            client = self.storage.client
            if self.storage._call(client.set, self.key, self.token, nx=True, px=LOCK_TTL_MS):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def renew(self) -> None:
        """Extend the lock; raises when it expired meanwhile (another may hold it now)."""
        args = [self.token, LOCK_TTL_MS]
        if not int(self.storage._call(self._renew, keys=[self.key], args=args)):
            raise RuntimeError(f"{self.key} expired during the archive run; another may run")

    def release(self) -> None:
        """Release the lock if it is still this holder's."""
        self.storage._call(self._release, keys=[self.key], args=[self.token])


def register_archive(storage: RedisStorage, folder: Path) -> LogArchive:
    """Record ``<folder>/<prefix>`` as the log's archive (first run), or check that it is
    the one recorded; a different one is an error naming ``log.archive_dir``.

    The prefix's subfolder keeps apart the logs of deployments sharing one Redis.
    """
    path = str(Path(folder).expanduser().resolve() / storage.prefix)
    key = storage.key("archive")
    if not storage._call(storage.client.set, key, path, nx=True):
        recorded = storage._call(storage.client.get, key).decode()
        if recorded != path:
            raise ValueError(
                f"log.archive_dir: {str(folder)!r}, but this log's archive is {recorded!r} "
                f"(recorded in {key}): set log.archive_dir to {str(Path(recorded).parent)!r}, "
                f"or move the files and update {key} with them"
            )
    return LogArchive(Path(path))


def archive_log(
    storage: RedisStorage,
    *,
    retention_s: float,
    folder: Path,
    now: float | None = None,
    max_events: int = MAX_EVENTS,
    keep_s: float = 0.0,
) -> ArchiveReport:
    """Archive the events older than ``retention_s``, then trim them from Redis; with
    ``keep_s``, then remove archived events older than that from the archive.

    Parameters
    ----------
    storage : RedisStorage
    retention_s : float
        Events whose timestamp is at least this old (relative to ``now``) are archived;
        must be > 0.
    folder : Path
        The archive folder (``log.archive_dir``); created 0700 at the first run.
    now : float, optional
        The clock events are aged against (default: this host's); the benchmarks and
        tests replay old data.
    max_events : int
        Most events per file; a run writes as many files as the backlog needs, taking
        the lock for each.
    keep_s : float
        The archive's retention (``log.archive_keep_s``): archived events whose timestamp
        is at least this old are deleted (their files rewritten without them, their ids
        forgotten) at the end of the run; 0 keeps them. Must exceed ``retention_s``.
    """
    if not retention_s > 0:
        raise ValueError(f"log.retention_s: archiving needs a window > 0 s, got {retention_s}")
    if keep_s and not keep_s > retention_s:
        raise ValueError(
            f"log.archive_keep_s: must exceed log.retention_s ({retention_s} s) or be 0, "
            f"got {keep_s}"
        )
    if max_events < 1:
        raise ValueError(f"max_events: expected >= 1, got {max_events}")
    t0 = time.perf_counter()
    report = ArchiveReport()
    archive = register_archive(storage, folder)
    clock = time.time() if now is None else now
    horizon = clock - retention_s
    lock = ArchiveLock(storage)
    first = True
    while True:
        if not lock.acquire():
            report.busy = True
            break
        try:
            if first:
                check_archive(storage, archive)
                report.recovered = _finish_crashed_run(storage, archive, lock)
                _mark_counter(storage)
                first = False
            written = _archive_step(storage, archive, lock, horizon, max_events)
            if written is None:
                report.ids_dropped = _drop_event_ids(storage, archive, lock, retention_s)
                if keep_s > 0:
                    report.expired = len(_expire(storage, archive, lock, clock - keep_s))
                break
            path, n = written
            report.files.append(path)
            report.events += n
        finally:
            lock.release()
    report.seconds = time.perf_counter() - t0
    if report.files:
        log.info(
            "archived %d events into %d file(s) in %.1f s", report.events, len(report.files),
            report.seconds,
        )  # fmt: skip
    return report


def check_archive(storage: RedisStorage, archive: LogArchive) -> None:
    """Raise :class:`StorageUnavailable` when the folder lacks files Redis says it holds
    (not mounted here, or files removed): reading or writing it would lose events."""
    trimmed, last = archived_seq(storage), archive.last_seq()
    if trimmed > last:
        raise StorageUnavailable(
            f"the log's archive {archive.folder} ends at sequence number {last}, but Redis "
            f"trimmed the log up to {trimmed} ({storage.key('archived_seq')}): mount the "
            "archive folder at that path on this host"
        )


def _archive_step(
    storage: RedisStorage,
    archive: LogArchive,
    lock: ArchiveLock,
    horizon: float,
    max_events: int,
) -> tuple[Path, int] | None:
    """Archive one file's worth of the log; None when nothing is old enough."""
    from pulserec.storage.redis import _decode_event, entry_seq

    lo = archive.last_seq() + 1
    events: list[StoredEvent] = []
    hi, done = lo - 1, False
    while not done and len(events) < max_events:
        count = min(_PAGE, max_events - len(events))
        start = f"{hi + 1}-0"
        page = storage._call(storage.client.xrange, storage.key("log"), start, "+", count=count)
        for entry_id, fields in page:
            seq = entry_seq(entry_id)
            if b"e" in fields:  # else a deletion marker of earlier versions: trimmed too
                stored = _decode_event(entry_id, fields[b"e"])
                if stored.event.timestamp >= horizon:
                    hi, done = seq - 1, True
                    break
                events.append(stored)
            hi = seq
        done = done or len(page) < count
    if not events:
        return None
    lock.renew()
    written = archive.write(events, lo, hi)
    lock.renew()
    _trim(storage, lock, {s.event.user_id for s in events}, hi, len(events))
    return written.path, len(events)


def _trim(storage: RedisStorage, lock: ArchiveLock, users: Iterable[str], hi: int, n: int) -> None:
    """Trim the users' streams, then the log, to the entries after ``hi``."""
    trim_users = storage.client.register_script(_TRIM_USERS)
    finish = storage.client.register_script(_FINISH)
    minid = f"{hi + 1}-0"
    names = sorted(users)
    for lo in range(0, len(names), _BATCH):
        args = [storage.prefix, lock.token, minid, *names[lo : lo + _BATCH]]
        if int(storage._call(trim_users, keys=[], args=args)) < 0:
            raise RuntimeError("the archive lock expired during the trim; another may run")
    last: list[object] = [storage.prefix, lock.token, minid, hi, n]
    if int(storage._call(finish, keys=[], args=last)) < 0:
        raise RuntimeError("the archive lock expired during the trim; another may run")


def _finish_crashed_run(storage: RedisStorage, archive: LogArchive, lock: ArchiveLock) -> int:
    """Trim what files past ``archived_seq`` hold (a run died after writing them)."""
    done = archived_seq(storage)
    pending = [f for f in archive.files() if f.hi > done]
    if not pending:
        return 0
    users: set[str] = set()
    n = 0
    for f in pending:
        users |= archive.user_ids(f)
        n += archive.rows(f)
    log.warning("finishing the trim of %d archived events a crashed run left in Redis", n)
    _trim(storage, lock, users, pending[-1].hi, n)
    return n


def _redis_time(storage: RedisStorage) -> float:
    seconds, micros = storage._call(storage.client.time)
    return float(seconds) + float(micros) / 1e6


def _mark_counter(storage: RedisStorage) -> None:
    """Note the log's sequence counter with Redis's clock (see the module's notes)."""
    seconds = _redis_time(storage)
    counter = int(storage._call(storage.client.get, storage.key("seq")) or 0)
    storage._call(storage.client.zadd, storage.key("seq_marks"), {str(counter): seconds}, nx=True)


def _drop_event_ids(
    storage: RedisStorage, archive: LogArchive, lock: ArchiveLock, retention_s: float
) -> int:
    """Drop the ids of archived events that arrived more than ``retention_s`` ago."""
    client, marks = storage.client, storage.key("seq_marks")
    seconds = _redis_time(storage)
    old = storage._call(
        client.zrevrangebyscore, marks, seconds - retention_s, "-inf", start=0, num=1,
        withscores=True,
    )  # fmt: skip
    if not old:
        return 0
    member, score = old[0]
    storage._call(client.zremrangebyscore, marks, "-inf", f"({score}")  # older marks: spent
    done = int(storage._call(client.get, storage.key("eids_seq")) or 0)
    upto = min(int(member), archived_seq(storage))
    if upto <= done:
        return 0
    dropped = _forget_ids(storage, lock, archive.event_ids(after_seq=done, upto=upto))
    storage._call(client.set, storage.key("eids_seq"), upto)
    return dropped


def archived_seq(storage: RedisStorage) -> int:
    """The highest sequence number trimmed from the log (0: none)."""
    return int(storage._call(storage.client.get, storage.key("archived_seq")) or 0)


def purge_user(storage: RedisStorage, archive: LogArchive, user_id: str) -> list[StoredEvent]:
    """Rewrite the archive files without a user's events, under the archive lock; drop
    their event ids still held and uncount them. Returns the removed events.

    Raises :class:`StorageUnavailable` when an archive run keeps the lock past
    :data:`LOCK_WAIT_S` (the deletion may be retried: it is idempotent).
    """
    lock = ArchiveLock(storage)
    if not lock.acquire(wait_s=LOCK_WAIT_S):
        raise StorageUnavailable(
            f"{lock.key} was held for {LOCK_WAIT_S:.0f} s; the user's archived events are "
            "still in the archive: retry the deletion"
        )
    try:
        removed = archive.remove_user(user_id)
        _uncount(storage, lock, removed)
        return removed
    finally:
        lock.release()


def _expire(
    storage: RedisStorage, archive: LogArchive, lock: ArchiveLock, before_ts: float
) -> list[StoredEvent]:
    """Remove the archived events stamped before ``before_ts`` (the caller holds the
    lock), as a user's deletion does: files rewritten, ids forgotten, uncounted."""
    removed = archive.expire(before_ts)
    _uncount(storage, lock, removed)
    if removed:
        log.info("archive retention: removed %d events stamped before %.0f", len(removed),
                 before_ts)  # fmt: skip
    return removed


def _uncount(storage: RedisStorage, lock: ArchiveLock, removed: Sequence[StoredEvent]) -> None:
    """Forget the ids of events removed from the archive and take them off its count."""
    if removed:
        _forget_ids(storage, lock, [(s.seq, s.event.event_id) for s in removed])
        storage._call(storage.client.decrby, storage.key("archived_events"), len(removed))


def _forget_ids(
    storage: RedisStorage, lock: ArchiveLock, pairs: Sequence[tuple[int, str | None]]
) -> int:
    """Drop event ids from ``eids`` where they still name these sequence numbers (an id
    reused after its first event's left names the newer one)."""
    drop = storage.client.register_script(_DROP_IDS)
    known = [(seq, eid) for seq, eid in pairs if eid is not None]
    dropped = 0
    for lo in range(0, len(known), _BATCH):
        args: list[object] = [storage.prefix, lock.token]
        for seq, event_id in known[lo : lo + _BATCH]:
            args += [event_id, seq]
        n = int(storage._call(drop, keys=[], args=args))
        if n < 0:
            raise RuntimeError("the archive lock expired while dropping event ids")
        dropped += n
    return dropped
