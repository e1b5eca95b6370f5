"""Forgetting a user leaves none of their bytes in the storage's files.

Known answer: a user id, their event ids and a comment text, each unique, are written
among many other users' events, partly checkpointed into the database file and partly
still in the WAL; after ``delete_user`` and more writes (so freed pages are reused), a byte
search of the database and its ``-wal`` finds none of them. Two controls show what each
measure is for: without ``secure_delete`` the database keeps the rows, and without the
checkpoint the WAL does.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from pulserec.storage import SQLiteStorage
from pulserec.types import Event

USER = "zelda-3f9c2a71"
COMMENT = "unique comment 8c1f55e0 about the late-night trio"
SECRETS = [USER.encode(), COMMENT.encode(), b"zelda-evt-"]


def other(rng: random.Random, n: int, t0: float) -> list[Event]:
    return [
        Event(f"user-{rng.randrange(300)}", f"item-{rng.randrange(500)}", "comment", t0 + j,
              text=f"an ordinary remark number {rng.randrange(10**9)}", event_id=f"o-{t0}-{j}")
        for j in range(n)
    ]  # fmt: skip


def fill(storage: SQLiteStorage) -> None:
    """The user's 30 events among 4000 others, half checkpointed into the database file."""
    rng = random.Random(3)
    for batch in range(30):
        storage.append(other(rng, 60, batch * 1000.0))
        storage.append(
            [Event(USER, f"item-{batch}", "comment", batch * 1000.0 + 999, text=COMMENT,
                   event_id=f"zelda-evt-{batch}")]
        )  # fmt: skip
        if batch == 15:
            storage._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    storage.append(other(rng, 2200, 50_000.0))


def found(path: Path) -> dict[str, list[bytes]]:
    """Which secrets each of the database's files still holds."""
    out = {}
    for name in (path.name, f"{path.name}-wal"):
        data = (path.parent / name).read_bytes() if (path.parent / name).exists() else b""
        out[name] = [s for s in SECRETS if s in data]
    return out


def test_delete_user_leaves_no_byte_of_the_user_in_db_or_wal(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    storage = SQLiteStorage(f"sqlite:///{path}", synchronous="OFF")
    fill(storage)
    assert found(path) == {"p.db": SECRETS, "p.db-wal": SECRETS}  # the test can see them
    assert storage.delete_user(USER) == 30
    assert (path.parent / "p.db-wal").stat().st_size == 0  # the WAL was emptied
    storage.append(other(random.Random(4), 500, 90_000.0))  # freed pages get reused
    assert found(path) == {"p.db": [], "p.db-wal": []}
    assert storage.counts()["events"] == 30 * 60 + 2200 + 500
    storage.close()
    assert found(path) == {"p.db": [], "p.db-wal": []}
    with sqlite3.connect(path) as db:  # and the database is whole
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_control_without_secure_delete_the_database_keeps_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    storage = SQLiteStorage(f"sqlite:///{path}", synchronous="OFF")
    storage._conn.execute("PRAGMA secure_delete=OFF")
    fill(storage)
    storage.delete_user(USER)
    assert found(path)["p.db"]
    storage.close()


def test_control_without_the_checkpoint_the_wal_keeps_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    storage = SQLiteStorage(f"sqlite:///{path}", synchronous="OFF")
    fill(storage)
    storage._conn.execute("DELETE FROM events WHERE user_id = ?", (USER,))
    assert found(path)["p.db-wal"]
    storage.close()


@pytest.mark.parametrize("busy", [False, True])
def test_checkpoint_reports_a_reader_that_blocks_it(tmp_path: Path, busy: bool) -> None:
    path = tmp_path / "p.db"
    storage = SQLiteStorage(f"sqlite:///{path}", synchronous="OFF")
    storage.append(other(random.Random(5), 50, 0.0))
    reader = sqlite3.connect(path, timeout=0.1)
    if busy:  # an open read transaction pins the WAL's frames
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM events").fetchone()
        storage._conn.execute("PRAGMA busy_timeout=100")
    assert storage.checkpoint() is not busy
    reader.close()
    storage.close()
