"""The online loop's rows in each storage backend: memory, SQLite, Redis.

:func:`open_online_store` picks the one matching the event log's URL, so served lists,
attributions and experiments live beside the events: in the same SQLite file (tables of
their own, a connection of their own) or the same Redis server (keys ``<prefix>:ol:*``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import astuple
from typing import Any

from pulserec.online.base import Attribution, OnlineStore, ServedList
from pulserec.storage.base import Storage, StorageUnavailable

SCHEMA = """
CREATE TABLE IF NOT EXISTS served_lists (
    recommendation_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    placement TEXT NOT NULL,
    variant TEXT NOT NULL,
    timestamp REAL NOT NULL,
    items TEXT NOT NULL,
    novelty REAL NOT NULL,
    experiment TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS served_lists_ts ON served_lists (timestamp);
CREATE INDEX IF NOT EXISTS served_lists_user ON served_lists (user_id);
CREATE TABLE IF NOT EXISTS attributions (
    recommendation_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    type TEXT NOT NULL,
    position INTEGER NOT NULL,
    timestamp REAL NOT NULL,
    served_at REAL NOT NULL,
    placement TEXT NOT NULL,
    variant TEXT NOT NULL,
    experiment TEXT NOT NULL,
    explicit INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS attributions_served ON attributions (served_at);
CREATE INDEX IF NOT EXISTS attributions_user ON attributions (user_id);
CREATE TABLE IF NOT EXISTS experiments (name TEXT PRIMARY KEY, document TEXT NOT NULL);
"""


def _list_row(s: ServedList) -> tuple[Any, ...]:
    return (s.recommendation_id, s.user_id, s.placement, s.variant, s.timestamp,
            json.dumps(s.item_ids, ensure_ascii=False), s.novelty, s.experiment)  # fmt: skip


def _list_of(row: Iterable[Any]) -> ServedList:
    rid, user, placement, variant, ts, items, novelty, experiment = row
    return ServedList(rid, user, placement, variant, float(ts), tuple(json.loads(items)),
                      float(novelty), experiment)  # fmt: skip


def _attribution_of(row: Iterable[Any]) -> Attribution:
    rid, user, item, typ, pos, ts, served, placement, variant, experiment, explicit = row
    return Attribution(rid, user, item, typ, int(pos), float(ts), float(served), placement,
                       variant, experiment, bool(explicit))  # fmt: skip


class MemoryOnlineStore(OnlineStore):
    """Rows in the process (tests, the simulator); nothing survives it."""

    def __init__(self) -> None:
        self._lists: dict[str, ServedList] = {}
        self._attributions: list[Attribution] = []
        self._experiments: dict[str, str] = {}

    def append_lists(self, lists: Iterable[ServedList]) -> None:
        for s in lists:
            self._lists[s.recommendation_id] = s

    def lists(self, *, since: float = 0.0) -> Iterator[ServedList]:
        found = [s for s in list(self._lists.values()) if s.timestamp >= since]
        return iter(sorted(found, key=lambda s: s.timestamp))

    def get_list(self, recommendation_id: str) -> ServedList | None:
        return self._lists.get(recommendation_id)

    def append_attributions(self, rows: Iterable[Attribution], *, sync: bool = True) -> None:
        self._attributions.extend(rows)

    def delete_attributions(self, rows: Iterable[Attribution]) -> None:
        gone = list(rows)
        self._attributions = [a for a in self._attributions if a not in gone]

    def attributions(self, *, since: float = 0.0) -> Iterator[Attribution]:
        return iter([a for a in self._attributions if a.served_at >= since])

    def delete_user(self, user_id: str) -> int:
        gone = [rid for rid, s in self._lists.items() if s.user_id == user_id]
        for rid in gone:
            del self._lists[rid]
        self._attributions = [a for a in self._attributions if a.user_id != user_id]
        return len(gone)

    def put_experiment(self, name: str, document: str) -> None:
        self._experiments[name] = document

    def experiments(self) -> dict[str, str]:
        return dict(self._experiments)


class SQLiteOnlineStore(OnlineStore):
    """Tables beside the event log in its SQLite file, on a connection of their own (WAL
    lets it write between the log's transactions; a busy log makes it wait, not fail).
    Attributions and experiments commit with ``synchronous=FULL``, served lists with
    ``NORMAL`` (see :meth:`append_lists`)."""

    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                     timeout=30.0)  # fmt: skip
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA secure_delete=ON")
        self._conn.executescript(SCHEMA)

    def _write(self, sql: str, rows: list[tuple[Any, ...]], synchronous: str = "FULL") -> None:
        if not rows:
            return
        with self._lock:
            cur = self._conn.cursor()
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.executemany(sql, rows)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def append_lists(self, lists: Iterable[ServedList]) -> None:
        # Served lists commit without their own fsync (WAL, synchronous=NORMAL): they are in
        # the -wal file at once, safe from a crash of the process, and reach the disk with
        # the next event's commit (which fsyncs the WAL up to its end) or checkpoint. An
        # fsync of their own would hold the database's one write lock for its duration,
        # and event appends would queue behind it.
        self._write("INSERT OR REPLACE INTO served_lists VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [_list_row(s) for s in lists], synchronous="NORMAL")  # fmt: skip

    def lists(self, *, since: float = 0.0) -> Iterator[ServedList]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM served_lists WHERE timestamp >= ? ORDER BY timestamp", (since,)
            ).fetchall()
        return (_list_of(r) for r in rows)

    def get_list(self, recommendation_id: str) -> ServedList | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT * FROM served_lists WHERE recommendation_id = ?", (recommendation_id,)
            ).fetchone()
        return None if row is None else _list_of(row)

    def append_attributions(self, rows: Iterable[Attribution], *, sync: bool = True) -> None:
        self._write("INSERT INTO attributions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [astuple(a) for a in rows], "FULL" if sync else "NORMAL")  # fmt: skip

    def delete_attributions(self, rows: Iterable[Attribution]) -> None:
        self._write("DELETE FROM attributions WHERE recommendation_id = ? AND user_id = ? AND "
                    "item_id = ? AND type = ? AND position = ? AND timestamp = ?",
                    [astuple(a)[:6] for a in rows])  # fmt: skip

    def attributions(self, *, since: float = 0.0) -> Iterator[Attribution]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM attributions WHERE served_at >= ? ORDER BY rowid", (since,)
            ).fetchall()
        return (_attribution_of(r) for r in rows)

    def delete_user(self, user_id: str) -> int:
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                n = cur.execute("DELETE FROM served_lists WHERE user_id = ?", (user_id,)).rowcount
                cur.execute("DELETE FROM attributions WHERE user_id = ?", (user_id,))
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(n)

    def put_experiment(self, name: str, document: str) -> None:
        self._write("INSERT OR REPLACE INTO experiments VALUES (?, ?)", [(name, document)])

    def experiments(self) -> dict[str, str]:
        with self._lock:
            return dict(self._conn.execute("SELECT name, document FROM experiments").fetchall())

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class RedisOnlineStore(OnlineStore):
    """Keys under ``<prefix>:ol:``: ``lists`` and ``attr`` (streams, capped at ``max_rows``
    entries), ``l:<recommendation_id>`` (one list's JSON, expiring after ``ttl_s``) and
    ``experiments`` (a hash). Durability is Redis's: run it with ``appendfsync always``."""

    shared = True

    def __init__(self, storage: Any, *, max_rows: int = 5_000_000, ttl_s: float = 7 * 86400.0):
        self.storage = storage
        self.client = storage.client
        self.max_rows = max_rows
        self.ttl_s = int(ttl_s)

    def key(self, name: str) -> str:
        return str(self.storage.key(f"ol:{name}"))

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return self.storage._call(fn, *args, **kwargs)

    def append_lists(self, lists: Iterable[ServedList]) -> None:
        pipe = self.client.pipeline(transaction=True)
        for s in lists:
            data = json.dumps(_list_row(s), ensure_ascii=False)
            pipe.xadd(self.key("lists"), {"d": data}, maxlen=self.max_rows, approximate=True)
            pipe.set(self.key(f"l:{s.recommendation_id}"), data, ex=self.ttl_s)
        self._call(pipe.execute)

    def _stream(self, name: str) -> Iterator[Any]:
        last = "-"
        while True:
            page = self._call(self.client.xrange, self.key(name), last, "+", count=1000)
            if not page:
                return
            for entry_id, fields in page:
                yield entry_id, json.loads(fields[b"d"])
            eid = page[-1][0].decode()
            last = "(" + eid

    def lists(self, *, since: float = 0.0) -> Iterator[ServedList]:
        found = [_list_of(row) for _, row in self._stream("lists")]
        return iter(sorted((s for s in found if s.timestamp >= since), key=lambda s: s.timestamp))

    def get_list(self, recommendation_id: str) -> ServedList | None:
        data = self._call(self.client.get, self.key(f"l:{recommendation_id}"))
        return None if data is None else _list_of(json.loads(data))

    def delete_attributions(self, rows: Iterable[Attribution]) -> None:
        gone = [list(astuple(a)) for a in rows]
        ids = [eid for eid, row in self._stream("attr") if row in gone]
        if ids:
            self._call(self.client.xdel, self.key("attr"), *ids)

    def append_attributions(self, rows: Iterable[Attribution], *, sync: bool = True) -> None:
        pipe = self.client.pipeline(transaction=True)
        n = 0
        for a in rows:
            data = json.dumps(astuple(a), ensure_ascii=False)
            pipe.xadd(self.key("attr"), {"d": data}, maxlen=self.max_rows, approximate=True)
            n += 1
        if n:
            self._call(pipe.execute)

    def attributions(self, *, since: float = 0.0) -> Iterator[Attribution]:
        found = (_attribution_of(row) for _, row in self._stream("attr"))
        return iter([a for a in found if a.served_at >= since])

    def delete_user(self, user_id: str) -> int:
        n = 0
        for name in ("lists", "attr"):
            rows = [(eid, row[0]) for eid, row in self._stream(name) if row[1] == user_id]
            if rows:
                self._call(self.client.xdel, self.key(name), *[eid for eid, _ in rows])
            if name == "lists" and rows:
                n = len(rows)
                self._call(self.client.delete, *[self.key(f"l:{rid}") for _, rid in rows])
        return n

    def put_experiment(self, name: str, document: str) -> None:
        self._call(self.client.hset, self.key("experiments"), name, document)

    def experiments(self) -> dict[str, str]:
        raw = self._call(self.client.hgetall, self.key("experiments"))
        return {k.decode(): v.decode() for k, v in raw.items()}


def open_online_store(storage: Storage) -> OnlineStore:
    """The online store living beside ``storage``: same file, same server, or memory."""
    url = storage.url
    if url.startswith("sqlite:///"):
        from pulserec.storage.sqlite import sqlite_path

        path = str(sqlite_path(url))
        return MemoryOnlineStore() if path == ":memory:" else SQLiteOnlineStore(path)
    if url.startswith("redis://") or url.startswith("rediss://"):
        return RedisOnlineStore(storage)
    return MemoryOnlineStore()


__all__ = [
    "MemoryOnlineStore",
    "RedisOnlineStore",
    "SQLiteOnlineStore",
    "StorageUnavailable",
    "open_online_store",
]
