"""Storage shared by several API processes: one Redis server.

``redis://host:port/db`` selects it. Keys, all under the prefix ``pulserec:``:

- ``seq``: the log's sequence counter (``INCR``);
- ``log``: the event log, a Redis Stream whose entry id is ``<seq>-0``, so a
  sequence number *is* the stream id and the two can never disagree;
- ``u:<user_id>``: the same entries again, in a per-user stream, so one user's
  events are one ``XRANGE`` away;
- ``gone:<sha256 of user_id>``: the sequence number at which a user was deleted,
  for 30 days: it tells other processes to drop the state they hold (it names the
  user only by a digest);
- ``users``: the set of users with events; ``eids``: event id -> seq;
- ``items``: item id -> JSON; ``item_order``: a sorted set keeping the order in
  which items first arrived (every process then numbers the catalog alike);
- ``archive``, ``archived_seq`` and the others of
  :mod:`pulserec.storage.redis_archive`, once the log's oldest events were moved to
  Parquet files: :meth:`RedisStorage.events` reads the whole log as those files, then
  the streams, while a user's stream keeps the retained window only.

An append is one Lua script: the idempotency check (``HSETNX`` on the event
id), the ``INCR`` and both ``XADD``s run atomically, so a retried request
never appends twice and no reader sees half an event.

Forgetting a user (:meth:`RedisStorage.delete_user`) removes their stream, their
event ids and their entries of the log at once, then rewrites the archive files holding
their older events; ``XDEL`` only marks a log entry deleted
inside the stream's nodes, so the log is then rewritten without them
(:func:`pulserec.storage.redis_erase.compact_log`) and Redis is asked to rewrite its
append-only file; see docs/deploy.md for what stays where until then.

Durability: run Redis with ``appendonly yes`` and ``appendfsync always``; then
the script's effects are fsynced to the append-only file before Redis answers,
and an acknowledged event survives a crash of Redis. Commands are never
retried by the client (a retried append without an event id could land
twice): an unreachable server raises :class:`StorageUnavailable` within about
``timeout`` seconds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from pulserec.storage.base import BACKENDS, Storage, StorageUnavailable, StoredEvent
from pulserec.types import Event, Item

if TYPE_CHECKING:
    from pulserec.storage.archive import LogArchive

PREFIX = "pulserec"
"""Key prefix of every key this backend writes."""

_APPEND = """
local p = ARGV[1]
local n = tonumber(ARGV[2])
local out = {}
for i = 0, n - 1 do
  local eid = ARGV[3 + 3 * i]
  local uid = ARGV[4 + 3 * i]
  local data = ARGV[5 + 3 * i]
  if eid ~= '' and redis.call('HEXISTS', p .. ':eids', eid) == 1 then
    out[#out + 1] = -1
  else
    local seq = redis.call('INCR', p .. ':seq')
    local id = seq .. '-0'
    redis.call('XADD', p .. ':log', id, 'e', data)
    redis.call('XADD', p .. ':u:' .. uid, id, 'e', data)
    redis.call('SADD', p .. ':users', uid)
    if eid ~= '' then redis.call('HSET', p .. ':eids', eid, seq) end
    out[#out + 1] = seq
  end
end
return out
"""

_DELETE_USER = """
local p = ARGV[1]
local ukey = p .. ':u:' .. ARGV[2]
local entries = redis.call('XRANGE', ukey, '-', '+')
local n = 0
for _, entry in ipairs(entries) do
  if entry[2][1] == 'e' then
    redis.call('XDEL', p .. ':log', entry[1])
    local eid = cjson.decode(entry[2][2])[1]
    if type(eid) == 'string' then redis.call('HDEL', p .. ':eids', eid) end
    n = n + 1
  end
end
redis.call('DEL', ukey)
-- a user whose events all left for the archive has none here, and is still forgotten
local known = redis.call('SREM', p .. ':users', ARGV[2])
if n > 0 or known == 1 then
  local seq = redis.call('INCR', p .. ':seq')
  redis.call('SET', p .. ':gone:' .. ARGV[3], seq, 'EX', ARGV[4])
  redis.call('INCRBY', p .. ':erase_pending', n)
end
return n
"""

_UPSERT_ITEMS = """
local p = ARGV[1]
local n = tonumber(ARGV[2])
for i = 0, n - 1 do
  local id = ARGV[3 + 2 * i]
  redis.call('HSET', p .. ':items', id, ARGV[4 + 2 * i])
  if not redis.call('ZSCORE', p .. ':item_order', id) then
    redis.call('ZADD', p .. ':item_order', redis.call('INCR', p .. ':item_ctr'), id)
  end
end
return n
"""

_DELETE_ITEM = """
local p = ARGV[1]
redis.call('ZREM', p .. ':item_order', ARGV[2])
return redis.call('HDEL', p .. ':items', ARGV[2])
"""

_NEWEST_PAGE = """
local page = redis.call('XRANGE', ARGV[1] .. ':log', ARGV[2], '+', 'COUNT', ARGV[3])
local best = nil
for _, entry in ipairs(page) do
  if entry[2][1] == 'e' then
    local row = cjson.decode(entry[2][2])
    if row[8] ~= true and (best == nil or row[5] > best) then best = row[5] end
  end
end
local last = ''
if #page > 0 then last = page[#page][1] end
if best == nil then return {#page, last} end
return {#page, last, string.format('%.17g', best)}
"""

_SINCE_PAGE = """
local page = redis.call('XRANGE', ARGV[1] .. ':log', ARGV[2], '+', 'COUNT', ARGV[3])
local since = tonumber(ARGV[4])
local out = {#page, '', redis.call('GET', ARGV[1] .. ':archived_seq') or '0'}
if #page > 0 then out[2] = page[#page][1] end
for _, entry in ipairs(page) do
  local fields = entry[2]
  if fields[1] == 'e' and cjson.decode(fields[2])[5] >= since then
    out[#out + 1] = entry[1]
    out[#out + 1] = fields[2]
  end
end
return out
"""
"""The scans of a time-bounded read, run in Redis a page at a time: each entry is decoded
there, and only the newest time (``_NEWEST_PAGE``: the page's size, its last entry id and
the latest non-spam time, as 17 digits, which read back exactly) or the entries stamped
late enough (``_SINCE_PAGE``: the page's size, last entry id and the trim mark, then entry
id and data of each) come back: redis-py takes ~14 µs to parse a stream entry, the Lua
decode a few."""

_SCAN_PAGE = 250
"""Entries one scan script reads: it holds Redis for about half a millisecond."""

_PAGE = 1000

GONE_TTL_S = 30 * 86_400
"""How long a deletion mark lives: a process holding a deleted user's state drops it at
its next read within that time (and every refit drops all held states anyway)."""


def user_digest(user_id: str) -> str:
    """The SHA-256 hex digest naming a user in keys that outlive the user's data."""
    return hashlib.sha256(user_id.encode("utf-8", "surrogatepass")).hexdigest()


def _encode_event(event: Event, spam: bool) -> str:
    e = event
    return json.dumps(
        [e.event_id, e.user_id, e.item_id, e.type, e.timestamp, e.value, e.text, spam],
        ensure_ascii=False,
    )


def entry_seq(entry_id: bytes | str) -> int:
    """The sequence number of a stream entry id (``"<seq>-0"``)."""
    sid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(sid.split("-", 1)[0])


def _decode_event(entry_id: bytes | str, data: bytes | str) -> StoredEvent:
    eid, uid, iid, typ, ts, value, text, spam = json.loads(data)
    event = Event(uid, iid, typ, float(ts), value, text, eid)
    return StoredEvent(entry_seq(entry_id), event, bool(spam))


class RedisStorage(Storage):
    """Event log and items in one Redis server, shared by every API process.

    Parameters
    ----------
    url : str
        ``redis://host:port/db``; ``?timeout=SECONDS`` sets the socket timeouts
        (default 1 s), ``?prefix=NAME`` the key prefix (default ``pulserec``), and
        ``?compact=manual`` leaves the rewrite of the log after a deletion to the
        operator (``compact_log``; the default ``on-delete`` runs it in ``delete_user``).
    """

    shared = True

    def __init__(self, url: str) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.url = url
        query = parse_qs(urlsplit(url).query)
        self.timeout = float(query.pop("timeout", ["1.0"])[0])
        self.prefix = query.pop("prefix", [PREFIX])[0]
        compact = query.pop("compact", ["on-delete"])[0]
        if compact not in ("on-delete", "manual"):
            raise ValueError(
                f"storage_url: compact must be 'on-delete' or 'manual', got {compact!r}"
            )
        self.compact_on_delete = compact == "on-delete"
        base = url.split("?", 1)[0]
        self._errors: tuple[type[Exception], ...] = (
            redis.ConnectionError,
            redis.TimeoutError,
            redis.exceptions.BusyLoadingError,
            OSError,
        )
        self.client: Any = redis.Redis.from_url(
            base,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
            health_check_interval=0,
        )
        self._append = self.client.register_script(_APPEND)
        self._delete_user = self.client.register_script(_DELETE_USER)
        self._upsert = self.client.register_script(_UPSERT_ITEMS)
        self._delete_item = self.client.register_script(_DELETE_ITEM)
        self._newest_page = self.client.register_script(_NEWEST_PAGE)
        self._since_page = self.client.register_script(_SINCE_PAGE)
        self._archive: LogArchive | None = None

    def key(self, name: str) -> str:
        """The full key of ``name``, e.g. ``pulserec:log``."""
        return f"{self.prefix}:{name}"

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._errors as exc:
            raise StorageUnavailable(
                f"redis at {self.url.split('?', 1)[0]} is unreachable: {exc}"
            ) from exc

    def ping(self) -> bool:
        """True when the server answers; raises :class:`StorageUnavailable` otherwise."""
        return bool(self._call(self.client.ping))

    def append(
        self, events: Sequence[Event], spam: Sequence[bool] | None = None
    ) -> list[int | None]:
        flags = list(spam) if spam is not None else [False] * len(events)
        if not events:
            return []
        args: list[Any] = [self.prefix, len(events)]
        for e, flag in zip(events, flags, strict=True):
            args += [e.event_id or "", e.user_id, _encode_event(e, bool(flag))]
        seqs = self._call(self._append, keys=[], args=args)
        return [int(s) if int(s) > 0 else None for s in seqs]

    def events(
        self, *, user_id: str | None = None, after_seq: int = 0, since_ts: float | None = None
    ) -> Iterator[StoredEvent]:
        """The log's events after ``after_seq`` (stamped at ``since_ts`` or later) in
        sequence order.

        Without ``user_id``: the whole log, its archived part included (the archive's
        files, then the live log after them; see :mod:`pulserec.storage.redis_archive`).
        With it: the user's stream, which holds their events of the retained window only.
        ``since_ts`` skips the archive files whose timestamps all end before it
        (:meth:`LogArchive.events`) and filters the live log in Redis (each page is
        scanned there; only the entries stamped late enough come back).
        """
        if user_id is not None:
            for entry_id, fields in self._entries(user_id, after_seq):
                if b"e" in fields:  # not a deletion marker (earlier versions wrote them)
                    stored = _decode_event(entry_id, fields[b"e"])
                    if since_ts is None or stored.event.timestamp >= since_ts:
                        yield stored
            return
        seen = after_seq
        while True:
            # the page and the trim mark in one transaction: an archive run that trimmed
            # past ``seen`` meanwhile shows in the mark, and its files are read first
            page, scanned, last, mark = self._page(seen, since_ts)
            if mark > seen:
                archive = self.archive()
                if archive is None:
                    raise StorageUnavailable(
                        f"{self.key('archived_seq')} is {int(mark)} but no archive folder is "
                        f"recorded in {self.key('archive')}"
                    )
                upto = max(mark, archive.last_seq())
                yield from archive.events(after_seq=seen, upto=upto, since_ts=since_ts)
                seen = upto
            for entry_id, data in page:
                if entry_seq(entry_id) > seen:
                    yield _decode_event(entry_id, data)
            seen = max(seen, last)
            if scanned < (_PAGE if since_ts is None else _SCAN_PAGE):
                return

    def _page(
        self, seen: int, since_ts: float | None
    ) -> tuple[list[tuple[bytes, bytes]], int, int, int]:
        """One page of the log after ``seen``, atomically with the trim mark: the entries'
        ids and data (those stamped at ``since_ts`` or later), how many entries the page
        scanned, the last one's sequence number (``seen`` if none) and the mark."""
        if since_ts is None:
            pipe = self.client.pipeline(transaction=True)
            pipe.xrange(self.key("log"), f"{seen + 1}-0", "+", count=_PAGE)
            pipe.get(self.key("archived_seq"))
            page, mark = self._call(pipe.execute)
            entries = [(entry_id, fields[b"e"]) for entry_id, fields in page if b"e" in fields]
            last = entry_seq(page[-1][0]) if page else seen
            return entries, len(page), last, int(mark or 0)
        args = [self.prefix, f"{seen + 1}-0", _SCAN_PAGE, repr(float(since_ts))]
        scanned, last_id, mark, *flat = self._call(self._since_page, keys=[], args=args)
        entries = list(zip(flat[0::2], flat[1::2], strict=True))
        last = entry_seq(last_id) if scanned else seen
        return entries, int(scanned), last, int(mark)

    def newest_timestamp(self) -> float | None:
        """The latest non-spam timestamp: the live log's (scanned in Redis a page at a
        time; one number comes back), then the archive's row groups that may end later
        (:meth:`LogArchive.newest_timestamp`).

        The live log is read before the archive: an event an archive run trims meanwhile
        is in its file by then.
        """
        newest: float | None = None
        start = "-"
        while True:
            scanned, last_id, *best = self._call(
                self._newest_page, keys=[], args=[self.prefix, start, _SCAN_PAGE]
            )
            if best and (newest is None or float(best[0]) > newest):
                newest = float(best[0])
            if scanned < _SCAN_PAGE:
                break
            start = f"{entry_seq(last_id) + 1}-0"
        archive = self.archive()
        older = archive.newest_timestamp(floor=newest) if archive is not None else None
        return newest if older is None else older

    def _entries(self, user_id: str, after_seq: int) -> Iterator[tuple[bytes, Any]]:
        key = self.key(f"u:{user_id}")
        start = f"{after_seq + 1}-0"
        while True:
            page = self._call(self.client.xrange, key, start, "+", count=_PAGE)
            yield from page
            if len(page) < _PAGE:
                return
            start = f"{entry_seq(page[-1][0]) + 1}-0"

    def archive(self) -> LogArchive | None:
        """The archive of this log's older events; None while nothing was ever archived.

        Raises :class:`StorageUnavailable` when the recorded folder lacks files that Redis
        trimmed (it is not mounted on this host): reading on would miss events.
        """
        if self._archive is None:
            path = self._call(self.client.get, self.key("archive"))
            if path is None:
                return None
            from pulserec.storage.archive import LogArchive

            self._archive = LogArchive(Path(path.decode()))
        from pulserec.storage.redis_archive import check_archive

        check_archive(self, self._archive)
        return self._archive

    def user_history(self, user_id: str) -> list[StoredEvent]:
        """The user's archived events, then their stream."""
        archive = self.archive()
        older = archive.user_events(user_id) if archive is not None else []
        last = older[-1].seq if older else 0
        return older + [s for s in self.events(user_id=user_id) if s.seq > last]

    def tail(self, user_id: str, after_seq: int) -> list[StoredEvent] | None:
        """A user's events after ``after_seq``; None when the user was deleted meanwhile.

        A state built before the deletion must then be dropped, not extended. One round
        trip: the first page of the user's stream and their deletion mark, pipelined.
        """
        pipe = self.client.pipeline(transaction=False)
        pipe.xrange(self.key(f"u:{user_id}"), f"{after_seq + 1}-0", "+", count=_PAGE)
        pipe.get(self.key(f"gone:{user_digest(user_id)}"))
        page, gone = self._call(pipe.execute)
        if gone is not None and int(gone) > after_seq:
            return None
        if any(b"e" not in fields for _, fields in page):
            return None  # a deletion marker entry, as earlier versions wrote them
        out = [_decode_event(entry_id, fields[b"e"]) for entry_id, fields in page]
        if len(page) == _PAGE:
            last = entry_seq(page[-1][0])
            rest = self.tail(user_id, last)
            if rest is None:
                return None
            out += rest
        return out

    def last_seq(self, user_id: str | None = None) -> int:
        """The newest sequence number in the log (archived included) or in one user's
        stream; 0 when empty."""
        key = self.key("log" if user_id is None else f"u:{user_id}")
        page = self._call(self.client.xrevrange, key, "+", "-", count=1)
        last = entry_seq(page[0][0]) if page else 0
        if user_id is None:
            last = max(last, int(self._call(self.client.get, self.key("archived_seq")) or 0))
        return last

    def delete_user(self, user_id: str) -> int:
        """Remove the user's events, event ids and stream, and their events from the
        archive's files; then rewrite the log without them and ask Redis to rewrite its
        append-only file (unless ``?compact=manual``)."""
        archive = self.archive()  # unreachable: fail before anything is deleted
        args = [self.prefix, user_id, user_digest(user_id), GONE_TTL_S]
        removed = int(self._call(self._delete_user, keys=[], args=args))
        live = removed
        if archive is not None:
            from pulserec.storage.redis_archive import purge_user

            removed += len(purge_user(self, archive, user_id))
        if live and self.compact_on_delete:
            from pulserec.storage.redis_erase import compact_log, rewrite_persistence

            if compact_log(self):
                rewrite_persistence(self)
        return removed

    def upsert_items(self, items: Iterable[Item]) -> int:
        args: list[Any] = [self.prefix, 0]
        n = 0
        for it in items:
            value = [it.title, it.text, list(it.categories), it.attributes, it.created_at]
            args += [it.item_id, json.dumps(value, ensure_ascii=False, default=str)]
            n += 1
        if n == 0:
            return 0
        args[1] = n
        return int(self._call(self._upsert, keys=[], args=args))

    def delete_item(self, item_id: str) -> bool:
        return int(self._call(self._delete_item, keys=[], args=[self.prefix, item_id])) > 0

    def put_document(self, kind: str, name: str, body: str | None) -> None:
        key = self.key(f"documents:{kind}")
        if body is None:
            self._call(self.client.hdel, key, name)
        else:
            self._call(self.client.hset, key, name, body)

    def documents(self, kind: str) -> dict[str, str]:
        found = self._call(self.client.hgetall, self.key(f"documents:{kind}"))
        return {k.decode(): v.decode() for k, v in sorted(found.items())}

    def items(self) -> Iterator[Item]:
        ids = self._call(self.client.zrange, self.key("item_order"), 0, -1)
        for lo in range(0, len(ids), _PAGE):
            chunk = ids[lo : lo + _PAGE]
            values = self._call(self.client.hmget, self.key("items"), chunk)
            for item_id, raw in zip(chunk, values, strict=True):
                if raw is None:
                    continue
                title, text, cats, attrs, created = json.loads(raw)
                yield Item(item_id.decode(), title, text, tuple(cats), attrs, created)

    def user_ids(self) -> set[str]:
        members = self._call(self.client.smembers, self.key("users"))
        return {u.decode() if isinstance(u, bytes) else str(u) for u in members}

    def counts(self) -> dict[str, int]:
        pipe = self.client.pipeline(transaction=True)
        pipe.xlen(self.key("log"))
        pipe.get(self.key("archived_events"))
        pipe.scard(self.key("users"))
        pipe.hlen(self.key("items"))
        n_events, n_archived, n_users, n_items = self._call(pipe.execute)
        n_events = int(n_events) + int(n_archived or 0)
        return {"events": n_events, "users": int(n_users), "items": int(n_items)}

    def close(self) -> None:
        self.client.close()


BACKENDS["redis"] = RedisStorage
