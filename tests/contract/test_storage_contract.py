"""One suite for every storage backend."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pulserec.storage import Storage, StorageUnavailable, open_storage
from pulserec.types import Event, Item
from redisproc import RedisServer, free_port

Factory = Callable[[], Storage]


@pytest.fixture(params=["memory", "sqlite", "redis"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    if request.param == "redis":
        base = request.getfixturevalue("redis_url")
        url = f"{base}?prefix={request.getfixturevalue('redis_prefix')}"
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/p.db"
    else:
        url = "memory://"
    opened: list[Storage] = []

    def factory() -> Storage:
        opened.append(open_storage(url))
        return opened[-1]

    yield factory
    for storage in opened:
        storage.close()


def ev(user: str, item: str | None, t: float, kind: str = "click", eid: str | None = None) -> Event:
    return Event(user, item, kind, t, event_id=eid, text="q" if kind == "search" else None)


def test_append_assigns_increasing_sequence_and_filters(make: Factory) -> None:
    s = make()
    seqs = s.append([ev("a", "x", 1), ev("b", "y", 2), ev("a", None, 3, "search")])
    assert seqs == sorted(seqs) and None not in seqs
    assert [e.event.item_id for e in s.events(user_id="a")] == ["x", None]
    assert [e.event.user_id for e in s.events(after_seq=seqs[0])] == ["b", "a"]
    assert s.counts() == {"events": 3, "users": 2, "items": 0}


def test_since_ts_filters_by_event_time_in_log_order(make: Factory) -> None:
    s = make()
    # event times out of log order; the latest time of all is a spam event's
    s.append(
        [ev("a", "x", 10), ev("b", "y", 40), ev("a", "z", 5), ev("c", "x", 90),
         ev("b", "x", 25), ev("a", None, 40, "search"), ev("c", "y", 30)],
        spam=[False, False, False, True, False, False, True],
    )  # fmt: skip
    assert s.newest_timestamp() == 40.0  # spam is not the newest
    read = [(e.seq, e.event.timestamp, e.spam) for e in s.events(since_ts=25)]
    assert read == [(2, 40.0, False), (4, 90.0, True), (5, 25.0, False), (6, 40.0, False),
                    (7, 30.0, True)]  # fmt: skip
    assert [e.seq for e in s.events(since_ts=25, after_seq=4)] == [5, 6, 7]
    assert [e.seq for e in s.events(since_ts=25, user_id="a")] == [6]
    assert [e.seq for e in s.events(since_ts=40.5)] == [4]
    assert [e.seq for e in s.events(since_ts=-1)] == [1, 2, 3, 4, 5, 6, 7]
    s.delete_user("b")
    assert s.newest_timestamp() == 40.0  # a's search
    s.delete_user("a")
    assert s.newest_timestamp() is None  # c's events are spam


def test_event_id_makes_retries_idempotent(make: Factory) -> None:
    s = make()
    first = s.append([ev("a", "x", 1, eid="e1")])
    again = s.append([ev("a", "x", 1, eid="e1"), ev("a", "y", 2, eid="e2")])
    assert first[0] is not None and again[0] is None and again[1] is not None
    assert s.counts()["events"] == 2


def test_spam_flag_round_trips_and_user_delete(make: Factory) -> None:
    s = make()
    s.append([ev("a", "x", 1), ev("a", "y", 2), ev("b", "x", 3)], spam=[False, True, False])
    assert [e.spam for e in s.events(user_id="a")] == [False, True]
    assert s.user_ids() == {"a", "b"}
    assert s.delete_user("a") == 2
    assert [e.event.user_id for e in s.events()] == ["b"]
    assert s.user_ids() == {"b"}


def test_items_upsert_replace_delete(make: Factory) -> None:
    s = make()
    s.upsert_items([Item("i1", "One", "first", ("a", "b"), {"price": 3}), Item("i2", "Two")])
    s.upsert_items([Item("i1", "Uno", "primero", ("a",), {}, 5.0)])
    items = {i.item_id: i for i in s.items()}
    assert items["i1"] == Item("i1", "Uno", "primero", ("a",), {}, 5.0)
    assert items["i2"].categories == ()
    assert s.delete_item("i2") and not s.delete_item("i2")
    assert s.counts()["items"] == 1


def test_sqlite_survives_reopen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/d/p.db"
    s = open_storage(url)
    s.append([ev("a", "x", 1, eid="e1")])
    s.upsert_items([Item("x", "X", "text 中文")])
    s.close()
    back = open_storage(url)
    assert [e.event.event_id for e in back.events()] == ["e1"]
    assert next(back.items()).text == "text 中文"
    assert back.append([ev("a", "x", 1, eid="e1")]) == [None]


def test_sqlite_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        s = open_storage(f"sqlite:///{tmp_path}/new/p.db")
        s.append([ev("a", "x", 1)])
        files = [tmp_path / "new" / name for name in ("p.db", "p.db-wal", "p.db-shm")]
        assert [oct(f.stat().st_mode & 0o777) for f in files] == ["0o600"] * 3
        assert oct((tmp_path / "new").stat().st_mode & 0o777) == "0o700"
        s.close()
    finally:
        os.umask(old)


def test_unknown_scheme_is_named() -> None:
    with pytest.raises(ValueError, match="storage_url: unknown scheme 'postgres'"):
        open_storage("postgres://x")


def test_redis_survives_restart_through_its_aof(redis_server: RedisServer) -> None:
    s = open_storage(redis_server.url)
    s.append([ev("a", "x", 1, eid="e1"), ev("b", "y", 2)])
    s.upsert_items([Item("y", "Y"), Item("x", "X", "text 中文")])
    redis_server.stop()
    redis_server.start()
    back = open_storage(redis_server.url)
    assert [e.event.event_id for e in back.events()] == ["e1", None]
    assert [i.item_id for i in back.items()] == ["y", "x"]  # first-arrival order
    assert back.append([ev("a", "x", 1, eid="e1"), ev("a", "z", 3)]) == [None, 3]
    s.close()
    back.close()


def test_redis_unreachable_fails_fast_and_names_the_server() -> None:
    s = open_storage(f"redis://127.0.0.1:{free_port()}/0?timeout=0.5")
    t0 = time.monotonic()
    with pytest.raises(StorageUnavailable, match="unreachable"):
        s.append([ev("a", "x", 1)])
    with pytest.raises(StorageUnavailable):
        list(s.events(user_id="a"))
    assert time.monotonic() - t0 < 3
    s.close()


def test_typed_item_properties_round_trip(make: Factory) -> None:
    attributes = {"price": 12.5, "stock": 3, "new": True, "brand": "acme",
                  "sizes": ["s", "m"], "launch": "2026-01-05T10:00:00Z", "gone": None}  # fmt: skip
    s = make()
    s.upsert_items([Item("p1", "P", attributes=attributes)])
    # a durable backend answers a second connection alike
    reader = s if s.url.startswith("memory") else make()
    (item,) = list(reader.items())
    assert item.attributes == attributes
    assert type(item.attributes["stock"]) is int and type(item.attributes["new"]) is bool


def test_documents_put_replace_delete(make: Factory) -> None:
    s = make()
    s.put_document("placement", "home", '{"k": 10}')
    s.put_document("placement", "cart", '{"k": 4}')
    s.put_document("placement", "home", '{"k": 12}')
    s.put_document("other", "home", "{}")
    reader = s if s.url.startswith("memory") else make()
    assert reader.documents("placement") == {"cart": '{"k": 4}', "home": '{"k": 12}'}
    s.put_document("placement", "cart", None)
    s.put_document("placement", "never", None)
    assert s.documents("placement") == {"home": '{"k": 12}'} and s.documents("none") == {}
