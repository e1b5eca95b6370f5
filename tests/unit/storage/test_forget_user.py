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
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from pulserec.storage import SQLiteStorage, Storage, open_storage, redis_erase
from pulserec.storage.redis_erase import compact_log, erase_pending
from pulserec.types import Event
from redisproc import RedisServer

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


# ------------------------------------------------------------------------------- redis


def fill_redis(storage: Storage) -> None:
    rng = random.Random(3)
    for batch in range(30):
        storage.append(other(rng, 60, batch * 1000.0))
        storage.append(
            [Event(USER, f"item-{batch}", "comment", batch * 1000.0 + 999, text=COMMENT,
                   event_id=f"zelda-evt-{batch}")]
        )  # fmt: skip


def redis_holds(client: Any) -> list[bytes]:
    """Secrets found in any key's name or serialized value (DUMP: the bytes Redis keeps
    and snapshots, deleted stream entries included)."""
    blob = b"".join(key + (client.dump(key) or b"") for key in client.scan_iter(count=1000))
    return [s for s in SECRETS if s in blob]


def files_hold(folder: Path) -> list[bytes]:
    blob = b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())
    return [s for s in SECRETS if s in blob]


def wait_for_rewrite(client: Any) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        info = client.info("persistence")
        if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
            return
        time.sleep(0.05)
    pytest.fail("the append-only file rewrite did not finish within 30 s")


@pytest.fixture
def redis_alone(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis server of this test's own, so its files hold only this test's data."""
    server = RedisServer(tmp_path / "redis")
    (tmp_path / "redis").mkdir()
    server.start()
    # uncompressed snapshots: a byte search must see what they hold
    redis.Redis.from_url(server.url).config_set("rdbcompression", "no")
    yield server
    server.stop()


def test_redis_delete_user_leaves_no_byte_in_memory_or_the_aof(redis_alone: RedisServer) -> None:
    client = redis.Redis.from_url(redis_alone.url)
    storage = open_storage(f"{redis_alone.url}?prefix=pr")
    fill_redis(storage)
    aof = redis_alone.dir / "appendonlydir"
    assert redis_holds(client) == SECRETS and files_hold(aof) == SECRETS
    assert storage.delete_user(USER) == 30
    wait_for_rewrite(client)
    assert redis_holds(client) == [] and files_hold(aof) == []
    assert erase_pending(storage) == 0  # type: ignore[arg-type]
    kept = [s.seq for s in storage.events()]
    assert len(kept) == 30 * 60 and kept == sorted(kept)
    assert storage.append([Event("after", "item-1", "click", 1.0)])[0] == 30 * 61 + 2
    storage.close()
    redis_alone.stop()
    redis_alone.start()  # the rewritten file replays to the same log
    back = open_storage(f"{redis_alone.url}?prefix=pr")
    assert [s.seq for s in back.events()] == [*kept, 30 * 61 + 2]
    assert redis_holds(client) == []
    back.close()


def test_redis_control_xdel_alone_keeps_the_bytes_until_compaction(
    redis_alone: RedisServer,
) -> None:
    client = redis.Redis.from_url(redis_alone.url)
    storage = open_storage(f"{redis_alone.url}?prefix=pr&compact=manual")
    fill_redis(storage)
    assert storage.delete_user(USER) == 30
    assert list(storage.events(user_id=USER)) == []  # hidden from every reader at once
    assert USER not in {s.event.user_id for s in storage.events()}
    assert COMMENT.encode() in (client.dump("pr:log") or b"")  # yet still in the stream
    assert erase_pending(storage) == 30  # type: ignore[arg-type]
    assert compact_log(storage)  # type: ignore[arg-type]
    assert redis_holds(client) == [] and erase_pending(storage) == 0  # type: ignore[arg-type]
    storage.close()


def test_redis_compaction_keeps_events_appended_while_it_runs(
    redis_alone: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_erase, "CHUNK", 50)  # many chunks: appends land in between
    storage = open_storage(f"{redis_alone.url}?prefix=pr&compact=manual")
    fill_redis(storage)
    storage.delete_user(USER)
    stop = threading.Event()
    appended: list[int | None] = []

    def append() -> None:
        writer = open_storage(f"{redis_alone.url}?prefix=pr&compact=manual")
        while not stop.is_set():
            appended.extend(writer.append([Event("busy", "item-2", "click", 2.0)]))
        writer.close()

    thread = threading.Thread(target=append)
    thread.start()
    try:
        assert compact_log(storage)  # type: ignore[arg-type]
    finally:
        stop.set()
        thread.join(10)
    seqs = [s.seq for s in storage.events()]
    assert len(appended) > 0 and set(appended) <= set(seqs)
    assert len(seqs) == 30 * 60 + len(appended) and seqs == sorted(seqs)
    storage.close()
