"""The embedded default: one SQLite file in WAL mode.

Every append is one transaction committed with ``synchronous=FULL`` before
the call returns, so an acknowledged event survives a killed process.

Forgetting a user leaves none of their bytes in the files: the connection runs with
``secure_delete`` (deleted rows are overwritten with zeros, in table and index pages
alike), and :meth:`SQLiteStorage.delete_user` ends with a ``TRUNCATE`` checkpoint, which
copies the zeroed pages into the database and empties the write-ahead log, whose older
frames still held the rows.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from pulserec.storage.base import BACKENDS, Storage, StoredEvent
from pulserec.storage.files import private_dir, private_file, warn_if_open
from pulserec.types import Event, Item

log = logging.getLogger("pulserec.storage")

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT UNIQUE,
    user_id TEXT NOT NULL,
    item_id TEXT,
    type TEXT NOT NULL,
    timestamp REAL NOT NULL,
    value REAL,
    text TEXT,
    spam INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_user ON events (user_id, seq);
CREATE INDEX IF NOT EXISTS events_time ON events (timestamp);
CREATE TABLE IF NOT EXISTS items (
    item_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    categories TEXT NOT NULL,
    attributes TEXT NOT NULL,
    created_at REAL
);
CREATE TABLE IF NOT EXISTS documents (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, name)
);
"""


_PAGE = 10_000
"""Rows a read of the whole log fetches at a time."""


def sqlite_path(url: str) -> Path:
    """``sqlite:///rel/path.db`` or ``sqlite:////abs/path.db`` -> the file path."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"storage_url: expected sqlite:///path, got {url!r}")
    return Path(url[len("sqlite:///") :])


class SQLiteStorage(Storage):
    """Events and items in one SQLite database."""

    def __init__(self, url: str, *, synchronous: str = "FULL") -> None:
        self.url = url
        path = sqlite_path(url)
        if str(path) != ":memory:":
            # the log holds what users did: 0600, and SQLite gives its -wal and -shm files
            # the database file's mode
            private_dir(path.parent)
            warn_if_open(path)
            private_file(path)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={synchronous}")
        self._conn.execute("PRAGMA secure_delete=ON")
        self._create_schema()

    def _create_schema(self) -> None:
        """Create what is missing: every table and index on a new file; on a file an
        earlier version wrote, the indexes added since (built once, at this open)."""
        tables = {
            name
            for (name,) in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'index')"
            )
        }
        if "events" in tables and "events_time" not in tables:
            (n,) = self._conn.execute("SELECT COUNT(*) FROM events").fetchone()
            log.info("%s: indexing the timestamps of %d events (once)", self.url, n)
        self._conn.executescript(SCHEMA)

    def append(
        self, events: Sequence[Event], spam: Sequence[bool] | None = None
    ) -> list[int | None]:
        flags = list(spam) if spam is not None else [False] * len(events)
        out: list[int | None] = []
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                for e, flag in zip(events, flags, strict=True):
                    cur.execute(
                        "INSERT OR IGNORE INTO events"
                        " (event_id, user_id, item_id, type, timestamp, value, text, spam)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            e.event_id,
                            e.user_id,
                            e.item_id,
                            e.type,
                            e.timestamp,
                            e.value,
                            e.text,
                            int(flag),
                        ),
                    )
                    out.append(cur.lastrowid if cur.rowcount == 1 else None)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        return out

    def events(
        self, *, user_id: str | None = None, after_seq: int = 0, since_ts: float | None = None
    ) -> Iterator[StoredEvent]:
        sql = (
            "SELECT seq, event_id, user_id, item_id, type, timestamp, value, text, spam FROM events"
        )
        if since_ts is not None and user_id is None:
            # without statistics the planner scans the whole table in seq order rather than
            # sort the rows the timestamp index finds: the index reads the window only
            sql += " INDEXED BY events_time"
        sql += " WHERE seq > ?"
        args: list[object] = [after_seq]
        if user_id is not None:
            sql += " AND user_id = ?"
            args.append(user_id)
        if since_ts is not None:
            sql += " AND timestamp >= ?"
            args.append(float(since_ts))
        sql += " ORDER BY seq"
        if user_id is None and since_ts is None:
            # the whole log (a server's start) a page at a time: a long log is never all
            # in memory at once, and each page is a range of the primary key
            sql += f" LIMIT {_PAGE}"
        while True:
            with self._lock:
                rows = self._conn.execute(sql, args).fetchall()
            for seq, event_id, uid, iid, typ, ts, value, text, spam in rows:
                yield StoredEvent(seq, Event(uid, iid, typ, ts, value, text, event_id), bool(spam))
            if user_id is not None or since_ts is not None or len(rows) < _PAGE:
                return
            args[0] = rows[-1][0]

    def newest_timestamp(self) -> float | None:
        """The latest non-spam timestamp: the timestamp index read from its end."""
        with self._lock:
            (newest,) = self._conn.execute(
                "SELECT MAX(timestamp) FROM events WHERE spam = 0"
            ).fetchone()
        return None if newest is None else float(newest)

    def delete_user(self, user_id: str) -> int:
        """Remove the user's events; their bytes leave the database and its WAL."""
        with self._lock:
            removed = self._conn.execute("DELETE FROM events WHERE user_id = ?", (user_id,))
            if removed.rowcount > 0:
                self.checkpoint()
            return removed.rowcount

    def checkpoint(self) -> bool:
        """Copy the WAL into the database and truncate it to zero bytes.

        Returns False when another connection's read kept it from completing within the
        busy timeout; the WAL then keeps its frames until a later checkpoint.
        """
        with self._lock:
            busy, _, _ = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            log.warning(
                "%s: a reader kept the WAL checkpoint from completing; deleted rows stay in "
                "the -wal file until the next checkpoint",
                self.url,
            )
        return not busy

    def upsert_items(self, items: Iterable[Item]) -> int:
        rows = [
            (
                it.item_id,
                it.title,
                it.text,
                json.dumps(list(it.categories), ensure_ascii=False),
                json.dumps(it.attributes, ensure_ascii=False, default=str),
                it.created_at,
            )
            for it in items
        ]
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                # an upsert keeps the row (and so the catalog order every restart rebuilds);
                # INSERT OR REPLACE would move a replaced item to the end
                cur.executemany(
                    "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(item_id) DO UPDATE SET"
                    " title=excluded.title, text=excluded.text, categories=excluded.categories,"
                    " attributes=excluded.attributes, created_at=excluded.created_at",
                    rows,
                )
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        return len(rows)

    def delete_item(self, item_id: str) -> bool:
        with self._lock:
            return (
                self._conn.execute("DELETE FROM items WHERE item_id = ?", (item_id,)).rowcount > 0
            )

    def items(self) -> Iterator[Item]:
        with self._lock:
            rows = self._conn.execute("SELECT * FROM items ORDER BY rowid").fetchall()
        for item_id, title, text, cats, attrs, created in rows:
            yield Item(item_id, title, text, tuple(json.loads(cats)), json.loads(attrs), created)

    def put_document(self, kind: str, name: str, body: str | None) -> None:
        with self._lock:
            if body is None:
                self._conn.execute(
                    "DELETE FROM documents WHERE kind = ? AND name = ?", (kind, name)
                )
            else:
                self._conn.execute(
                    "INSERT INTO documents (kind, name, body) VALUES (?, ?, ?)"
                    " ON CONFLICT (kind, name) DO UPDATE SET body = excluded.body",
                    (kind, name, body),
                )

    def documents(self, kind: str) -> dict[str, str]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT name, body FROM documents WHERE kind = ? ORDER BY name", (kind,)
            ).fetchall()
        return dict(rows)

    def user_ids(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._conn.execute("SELECT DISTINCT user_id FROM events")}

    def counts(self) -> dict[str, int]:
        with self._lock:
            n_events, n_users = self._conn.execute(
                "SELECT COUNT(*), COUNT(DISTINCT user_id) FROM events"
            ).fetchone()
            (n_items,) = self._conn.execute("SELECT COUNT(*) FROM items").fetchone()
        return {"events": n_events, "users": n_users, "items": n_items}

    def close(self) -> None:
        with self._lock:
            self._conn.close()


BACKENDS["sqlite"] = SQLiteStorage
