"""Erasing deleted events from Redis for good: rewrite the log, then the persistence files.

``XDEL`` hides a stream entry from every reader at once but only marks it deleted inside
the stream's node (a listpack of up to 100 entries); its bytes stay in memory, in
``DUMP`` and RDB snapshots, and in an append-only file rewritten with an RDB preamble,
until every entry of that node is deleted. :func:`compact_log` therefore rebuilds the log
stream from its live entries into a new key and swaps it in with ``RENAME``, which frees
the old stream whole. :func:`rewrite_persistence` then asks Redis to rewrite its
append-only file (which still holds the original ``XADD`` commands) and to save a new
snapshot where snapshots are configured.

The copy runs in chunks, one short script each, so Redis keeps serving in between;
events appended meanwhile are copied by the final, atomic step. A deletion during the
copy (seen through the ``erase_pending`` counter) restarts it, so the deletions of a burst
are erased together; one compaction runs at a time, under a lock key that expires.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pulserec.storage.redis import RedisStorage

log = logging.getLogger("pulserec.storage")

CHUNK = 2000
"""Log entries copied per script call (a few tens of milliseconds of Redis time)."""

LOCK_TTL_MS = 120_000
"""The compaction lock expires this long after its last chunk (a crashed compaction)."""

_COPY_CHUNK = """
local p, dst, token, start, n = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
if redis.call('GET', p .. ':compact_lock') ~= token then return {-1, 0} end
redis.call('PEXPIRE', p .. ':compact_lock', ARGV[6])
local entries = redis.call('XRANGE', p .. ':log', start, '+', 'COUNT', n)
for _, e in ipairs(entries) do
  redis.call('XADD', dst, e[1], unpack(e[2]))
end
if #entries == 0 then return {0, 0} end
local last = tonumber(string.match(entries[#entries][1], '^(%d+)'))
return {last, #entries == n and 1 or 0}
"""

_FINISH = """
local p, dst, token, start, expected = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local lock = p .. ':compact_lock'
if redis.call('GET', lock) ~= token then
  redis.call('DEL', dst)
  return -1
end
if (redis.call('GET', p .. ':erase_pending') or '0') ~= expected then
  redis.call('DEL', dst)
  return 0
end
while true do
  local entries = redis.call('XRANGE', p .. ':log', start, '+', 'COUNT', 1000)
  for _, e in ipairs(entries) do
    redis.call('XADD', dst, e[1], unpack(e[2]))
  end
  if #entries < 1000 then break end
  start = (tonumber(string.match(entries[#entries][1], '^(%d+)')) + 1) .. '-0'
end
-- an archive run may have trimmed the log while it was copied: the copy follows
local trimmed = redis.call('GET', p .. ':archived_seq')
if trimmed and redis.call('EXISTS', dst) == 1 then
  redis.call('XTRIM', dst, 'MINID', string.format('%d-0', tonumber(trimmed) + 1))
end
if redis.call('EXISTS', dst) == 1 then
  redis.call('RENAME', dst, p .. ':log')
else
  redis.call('DEL', p .. ':log')
end
redis.call('SET', p .. ':erase_pending', 0)
redis.call('DEL', lock)
return 1
"""


def erase_pending(storage: RedisStorage) -> int:
    """Deleted log entries whose bytes are still in the log (0 right after a compaction)."""
    return int(storage._call(storage.client.get, storage.key("erase_pending")) or 0)


def compact_log(storage: RedisStorage, *, attempts: int = 5) -> bool:
    """Rewrite the log stream without its deleted entries; True when it was rewritten.

    False when another compaction holds the lock (it restarts and erases these deletions
    too) or when deletions kept arriving for ``attempts`` rounds (``erase_pending`` then
    stays above 0, and a warning says so).
    """
    client = storage.client
    token = secrets.token_hex(8)
    lock = storage.key("compact_lock")
    if not storage._call(client.set, lock, token, nx=True, px=LOCK_TTL_MS):
        return False
    copy = client.register_script(_COPY_CHUNK)
    finish = client.register_script(_FINISH)
    dst = storage.key(f"log:compact:{token}")
    try:
        for _ in range(attempts):
            expected = str(erase_pending(storage))
            storage._call(client.delete, dst)
            start = "-"
            while True:
                args = [storage.prefix, dst, token, start, CHUNK, LOCK_TTL_MS]
                last, more = (int(v) for v in storage._call(copy, keys=[], args=args))
                if last == -1:
                    raise RuntimeError("the compaction lock expired; another may run")
                if last > 0:
                    start = f"{last + 1}-0"
                if not more:
                    break
            args = [storage.prefix, dst, token, start, expected]
            done = int(storage._call(finish, keys=[], args=args))
            if done == 1:
                return True
            if done == -1:
                raise RuntimeError("the compaction lock expired; another may run")
        log.warning(
            "%s: deletions kept arriving during %d log compactions; %d deleted entries "
            "are still in the log's nodes until the next compaction",
            storage.key("log"), attempts, erase_pending(storage),
        )  # fmt: skip
        return False
    finally:
        storage._call(client.delete, dst)
        # release the lock only if it is still ours (the finish step releases it itself)
        if storage._call(client.get, lock) == token.encode():
            storage._call(client.delete, lock)


def rewrite_persistence(storage: RedisStorage) -> list[str]:
    """Ask Redis to rewrite its append-only file and, where snapshots are configured, to
    save a new one, so that files on disk stop holding erased data.

    Managed services that forbid ``CONFIG`` or these commands are passed over (logged);
    the operator then runs them (docs/deploy.md). Returns the commands that were sent.
    """
    import redis

    client = storage.client
    sent: list[str] = []
    try:
        appendonly = storage._call(client.config_get, "appendonly").get("appendonly")
        save = storage._call(client.config_get, "save").get("save")
    except redis.ResponseError as exc:
        log.info("cannot read the Redis persistence settings (%s); rewrite them by hand", exc)
        return sent
    for wanted, command in ((appendonly == "yes", "BGREWRITEAOF"), (bool(save), "BGSAVE")):
        if not wanted:
            continue
        try:
            args = (command, "SCHEDULE") if command == "BGSAVE" else (command,)
            storage._call(client.execute_command, *args)
            sent.append(command)
        except redis.ResponseError as exc:  # e.g. a rewrite already running: it is fresh
            log.info("%s after an erasure: %s", command, exc)
    return sent
