"""Kept lists: a user asking again gets the same list without a ranking pass, until their
own event, a refit, a catalog change or the time bound says otherwise."""

from __future__ import annotations

from dataclasses import replace

import pytest
from shop import CFG, catalog, history

from pulserec.config import OnlineSettings
from pulserec.engine import Engine
from pulserec.engine.listcache import ListCache
from pulserec.online import OnlineLoop
from pulserec.online.stores import MemoryOnlineStore
from pulserec.types import Event, Item

T = 1_100_000.0
"""After the shop's history."""


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_kept_list_is_read_under_its_key_until_it_expires() -> None:
    clock = Clock()
    cache = ListCache(ttl_s=2.0, max_users=2, clock=clock)
    assert cache.get("ana", "k") is None and cache.misses == 1
    cache.put("ana", "k", "list of ana")
    assert cache.get("ana", "k") == "list of ana" and cache.hits == 1
    assert cache.get("ana", "other key") is None  # asked differently: ranked again
    clock.now += 1.999
    assert cache.get("ana", "k") == "list of ana"
    clock.now += 0.001
    assert cache.get("ana", "k") is None  # ttl_s after it was kept, it is not read
    # the least recently used user leaves beyond max_users
    for user in ("a", "b", "c"):
        cache.put(user, "k", user)
    assert len(cache) == 2 and cache.get("a", "k") is None and cache.get("c", "k") == "c"
    cache.forget("c")
    assert cache.get("c", "k") is None
    cache.clear()
    assert len(cache) == 0
    # off: nothing is kept
    off = ListCache(ttl_s=0.0, max_users=10)
    off.put("ana", "k", "x")
    assert not off.enabled and off.get("ana", "k") is None
    with pytest.raises(ValueError, match="ttl_s"):
        ListCache(ttl_s=-1.0, max_users=1)
    with pytest.raises(ValueError, match="max_users"):
        ListCache(ttl_s=1.0, max_users=-1)


def engine_with_cache(ttl_s: float, clock: Clock, online: OnlineLoop | None = None) -> Engine:
    engine = Engine(config=replace(CFG, sequential=False, list_cache_ttl_s=ttl_s), online=online)
    engine.list_cache = ListCache(ttl_s, 100, clock=clock)
    engine.upsert_items(catalog())
    engine.bootstrap(history())
    assert engine.train() is not None
    for j in range(5):
        engine.ingest(Event("ana", f"jazz-{j}", "click", T + j))
    return engine


def counting(engine: Engine) -> list[int]:
    """Counts the ranking passes of ``engine`` (one entry per pass)."""
    passes: list[int] = []
    rank = engine.ranker.recommend

    def wrapper(*args: object, **kwargs: object) -> object:
        passes.append(1)
        return rank(*args, **kwargs)  # type: ignore[arg-type]

    engine.ranker.recommend = wrapper  # type: ignore[method-assign]
    return passes


def ids(engine: Engine, user: str = "ana", **kwargs: object) -> list[str]:
    return [s.item_id for s in engine.recommend(user, 5, **kwargs).items]  # type: ignore[arg-type]


def scored(engine: Engine) -> list[tuple[str, float]]:
    return [(s.item_id, s.score) for s in engine.recommend("ana", 5).items]


def test_the_engine_serves_a_kept_list_until_the_users_event_or_a_catalog_change() -> None:
    clock = Clock()
    engine = engine_with_cache(30.0, clock)
    passes = counting(engine)
    first = scored(engine)
    assert scored(engine) == first and len(passes) == 1  # asked again: no ranking pass
    # everyone else's events do not move the kept list before the time bound ...
    for j in range(30):
        engine.ingest(Event(f"crowd{j}", "jazz-20", "click", T + 3_600.0 + j))
    assert scored(engine) == first and len(passes) == 1
    # ... they do after it (the trending counts of the list's items moved)
    clock.now += 30.0
    assert scored(engine) != first and len(passes) == 2
    # the user's own event misses at once, and the item taken leaves the list
    taken = ids(engine)[0]
    assert len(passes) == 2
    engine.ingest(Event("ana", taken, "click", T + 7_200.0))
    after = ids(engine)
    assert taken not in after and len(passes) == 3
    # a catalog change misses for everyone
    engine.upsert_items([Item("jazz-new", "Jazz new", "saxophone trumpet swing new", ("jazz",))])
    ids(engine)
    assert len(passes) == 4
    engine.delete_item(after[1])
    assert after[1] not in ids(engine) and len(passes) == 5
    # another request of the same user is ranked apart, and lists under rules are not kept
    ids(engine, diversity=0.5)
    ids(engine, category="jazz")
    ids(engine, category="jazz")
    assert len(passes) == 8
    # a refit misses for everyone
    ids(engine)
    assert len(passes) == 9
    assert engine.train() is not None
    ids(engine)
    assert len(passes) == 10
    # a forgotten user keeps nothing
    engine.forget_user("ana")
    ids(engine)
    assert len(passes) == 11


def test_each_answer_from_a_kept_list_is_logged_as_a_list_of_its_own() -> None:
    loop = OnlineLoop(MemoryOnlineStore(), OnlineSettings(retention_s=1e10))
    engine = engine_with_cache(30.0, Clock(), online=loop)
    passes = counting(engine)
    first, again = engine.recommend("ana", 5), engine.recommend("ana", 5)
    assert len(passes) == 1 and first.items == again.items
    assert first.recommendation_id and again.recommendation_id != first.recommendation_id


def test_without_a_time_bound_every_request_is_ranked() -> None:
    engine = engine_with_cache(0.0, Clock())
    passes = counting(engine)
    ids(engine)
    ids(engine)
    assert len(passes) == 2 and len(engine.list_cache) == 0
