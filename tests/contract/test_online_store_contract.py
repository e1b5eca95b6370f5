"""One suite for the online loop's store in every storage backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pulserec.online import OnlineStore, open_online_store
from pulserec.online.base import Attribution, ServedList
from pulserec.storage import Storage, open_storage


@pytest.fixture(params=["memory", "sqlite", "redis"])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Storage, str]]:
    if request.param == "redis":
        base = request.getfixturevalue("redis_url")
        url = f"{base}?prefix={request.getfixturevalue('redis_prefix')}"
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/p.db"
    else:
        url = "memory://"
    storage = open_storage(url)
    yield storage, request.param
    storage.close()


def served(rid: str, user: str, ts: float) -> ServedList:
    return ServedList(rid, user, "home", "b", ts, ("x", "y", "名"), 3.5, "exp")


def attribution(rid: str, user: str, served_at: float) -> Attribution:
    return Attribution(rid, user, "y", "click", 2, served_at + 4, served_at, "home", "b", "exp",
                       True)  # fmt: skip


def test_rows_round_trip_in_time_order(pair: tuple[Storage, str]) -> None:
    store: OnlineStore = open_online_store(pair[0])
    store.append_lists([served("r2", "u1", 20.0), served("r1", "u2", 10.0)])
    store.append_lists([served("r3", "u1", 30.0)])
    assert [s.recommendation_id for s in store.lists()] == ["r1", "r2", "r3"]
    assert [s.recommendation_id for s in store.lists(since=15.0)] == ["r2", "r3"]
    assert store.get_list("r2") == served("r2", "u1", 20.0)
    assert store.get_list("nope") is None
    store.append_attributions([attribution("r2", "u1", 20.0), attribution("r1", "u2", 10.0)])
    assert [a.recommendation_id for a in store.attributions(since=15.0)] == ["r2"]
    assert next(iter(store.attributions())) == attribution("r2", "u1", 20.0)
    store.delete_attributions([attribution("r2", "u1", 20.0)])
    assert list(store.attributions()) == [attribution("r1", "u2", 10.0)]
    store.append_attributions([attribution("r3", "u3", 30.0)], sync=False)
    assert [a.recommendation_id for a in store.attributions()] == ["r1", "r3"]


def test_forgetting_a_user_removes_their_rows(pair: tuple[Storage, str]) -> None:
    store = open_online_store(pair[0])
    store.append_lists([served("r1", "u1", 1.0), served("r2", "u2", 2.0)])
    store.append_attributions([attribution("r1", "u1", 1.0), attribution("r2", "u2", 2.0)])
    assert store.delete_user("u1") == 1
    assert [s.user_id for s in store.lists()] == ["u2"]
    assert [a.user_id for a in store.attributions()] == ["u2"]
    assert store.get_list("r1") is None


def test_experiments_are_kept_by_name(pair: tuple[Storage, str]) -> None:
    storage, kind = pair
    store = open_online_store(storage)
    store.put_experiment("a", '{"v": 1}')
    store.put_experiment("a", '{"v": 2}')
    store.put_experiment("b", "{}")
    assert store.experiments() == {"a": '{"v": 2}', "b": "{}"}
    if kind != "memory":  # durable: a second store on the same backend reads them
        assert open_online_store(open_storage(storage.url)).experiments()["a"] == '{"v": 2}'



def test_an_experiment_made_in_one_process_reaches_another(
    redis_url: str, redis_prefix: str
) -> None:
    """Redis is the store several API processes share: definitions travel through it."""
    from pulserec.online import OnlineLoop
    from pulserec.online import loop as loop_module

    storage = open_storage(f"{redis_url}?prefix={redis_prefix}")
    first, second = OnlineLoop(open_online_store(storage)), OnlineLoop(open_online_store(storage))
    first.create("e", [{"name": "a", "share": 0.5}, {"name": "b", "share": 0.5}],
                 horizon_users=1, start_seq=0, sources=set(), features=set())  # fmt: skip
    assert second.running() is None  # read again only every REFRESH_S
    second._refreshed -= loop_module.REFRESH_S + 1
    found = second.running()
    assert found is not None and found.name == "e"
    storage.close()
