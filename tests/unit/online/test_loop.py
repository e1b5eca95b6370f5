"""The online loop through the engine: served lists, attribution, experiments, restart."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from shop import CFG, catalog, history

from pulserec.config import OnlineSettings
from pulserec.engine import Engine
from pulserec.online import OnlineLoop, open_online_store
from pulserec.online.stores import MemoryOnlineStore
from pulserec.storage import open_storage
from pulserec.text import make_encoder
from pulserec.types import Event

FAST = replace(CFG, sequential=False)
T = 5_000_000.0


def build(storage_url: str = "memory://", **online: float) -> Engine:
    storage = open_storage(storage_url)
    loop = OnlineLoop(open_online_store(storage), OnlineSettings(**online)).restore(now=T)
    eng = Engine(storage, make_encoder("hashing"), FAST, online=loop)
    return eng


@pytest.fixture(scope="module")
def trained() -> Engine:
    eng = build()
    eng.upsert_items(catalog())
    eng.bootstrap(history())
    eng.train()
    return eng


def fresh(trained: Engine, **online: float) -> Engine:
    """An engine serving the trained models, with an empty online loop."""
    eng = build(**online)
    eng.upsert_items(catalog())
    eng.bootstrap(history())
    eng.swap(trained.models)  # type: ignore[arg-type]
    return eng


def group(eng: Engine, placement: str = "recommendations", variant: str = "") -> dict:  # type: ignore[type-arg]
    found = [g for g in eng.online.summary(1e9, len(eng.catalog), now=T + 10_000)["groups"]  # type: ignore[union-attr]
             if g["placement"] == placement and g["variant"] == variant]  # fmt: skip
    assert len(found) == 1
    return found[0]


def test_a_click_with_its_id_counts_at_its_position(trained: Engine) -> None:
    eng = fresh(trained)
    rec = eng.recommend("u0", 5, now=T)
    assert len(rec.recommendation_id) == 32 and rec.variant == ""
    third = rec.items[2].item_id
    eng.ingest(Event("u0", third, "click", T + 5, recommendation_id=rec.recommendation_id))
    g = group(eng)
    assert (g["lists"], g["impressions"], g["clicks"]) == (1, 5, 1)
    assert g["ctr"] == pytest.approx(0.2)
    assert g["ctr_by_position"] == [0.0, 0.0, 1.0, 0.0, 0.0]
    assert g["median_time_to_click_s"] == pytest.approx(5.0)
    # the same click again is not a second click; a purchase of it is a conversion
    eng.ingest(Event("u0", third, "click", T + 6, recommendation_id=rec.recommendation_id))
    eng.ingest(Event("u0", third, "purchase", T + 7))
    g = group(eng)
    assert (g["clicks"], g["conversions"]) == (1, 1)


def test_a_click_without_an_id_counts_for_the_latest_list_within_the_window(
    trained: Engine,
) -> None:
    eng = fresh(trained, attribution_window_s=600.0)
    old = eng.recommend("u2", 5, now=T)
    new = eng.recommend("u2", 5, now=T + 100, exclude=[old.items[1].item_id])
    shared = next(s.item_id for s in new.items if s.item_id in {x.item_id for x in old.items})
    eng.ingest(Event("u2", shared, "click", T + 110))
    a = list(eng.online.store.attributions())  # type: ignore[union-attr]
    assert [x.recommendation_id for x in a] == [new.recommendation_id]
    assert a[0].position == [s.item_id for s in new.items].index(shared) + 1 and not a[0].explicit
    # an item no list showed, a list of another user, and a click past the window: nothing
    eng.ingest(Event("u2", "jazz-999-unknown", "click", T + 120))
    eng.ingest(Event("u4", new.items[0].item_id, "click", T + 120))
    eng.ingest(Event("u2", new.items[4].item_id, "click", T + 100 + 601 + 60))
    assert len(list(eng.online.store.attributions())) == 1  # type: ignore[union-attr]


def test_variants_are_named_and_realtime_off_keeps_interests_still(trained: Engine) -> None:
    eng = fresh(trained)
    eng.create_experiment("rt", [
        {"name": "on", "share": 0.5},
        {"name": "off", "share": 0.5, "overrides": {"realtime": False}},
    ], horizon_users=2, now=T)  # fmt: skip
    loop = eng.online
    assert loop is not None
    users = {v: next(f"new-{i}" for i in range(1000)
                     if loop.assign(f"new-{i}")[1].name == v)  # type: ignore[union-attr]
             for v in ("on", "off")}  # fmt: skip
    moved = {}
    for variant, user in users.items():
        before = eng.recommend(user, 10, now=T)
        assert before.variant == variant
        for j in range(4):
            eng.ingest(Event(user, f"hiking-{j}", "click", T + j))
        after = eng.recommend(user, 10, now=T + 10)
        moved[variant] = sum(s.item_id.startswith("hiking") for s in after.items)
    # live trending moves both lists (the clicks count for everyone); only "on" moves the
    # user's own interests
    assert moved["on"] >= 8 and moved["on"] - moved["off"] >= 2, moved
    on_state, off_state = (eng.states.get(users[v]) for v in ("on", "off"))
    assert on_state is not None and on_state.short_cf is not None
    assert off_state is None or (off_state.short_cf is None and off_state.short_text is None)
    report = loop.report("rt")
    assert [v["name"] for v in report["variants"]] == ["on", "off"]
    assert report["variants"][0]["impressions"] == 20 and not report["final"]
    eng.stop_experiment("rt", conclude=True, winner="on")
    assert loop.experiments["rt"].status == "concluded"
    assert eng.recommend(users["off"], 3, now=T + 20).variant == ""


def test_lists_attributions_and_experiments_survive_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/p.db"
    eng = build(url)
    eng.upsert_items(catalog())
    eng.create_experiment("e", [{"name": "a", "share": 0.5}, {"name": "b", "share": 0.5}], now=T)
    rec = eng.recommend("u1", 4, now=T)
    eng.ingest(Event("u1", rec.items[0].item_id, "click", T + 1,
                     recommendation_id=rec.recommendation_id))  # fmt: skip
    eng.online.close()  # type: ignore[union-attr]
    eng.storage.close()

    again = build(url)
    loop = again.online
    assert loop is not None and loop.running() is not None
    assert loop.store.get_list(rec.recommendation_id).item_ids == tuple(  # type: ignore[union-attr]
        s.item_id for s in rec.items
    )
    g = group(again, variant=rec.variant)
    assert (g["lists"], g["impressions"], g["clicks"]) == (1, 4, 1)
    # the credited position is remembered: the same click is not counted twice
    again.ingest(Event("u1", rec.items[0].item_id, "click", T + 2,
                       recommendation_id=rec.recommendation_id))  # fmt: skip
    assert group(again, variant=rec.variant)["clicks"] == 1
    again.delete_user("u1")
    assert loop.store.get_list(rec.recommendation_id) is None
    assert list(loop.store.attributions()) == []


def test_exploration_shows_items_nobody_was_shown(trained: Engine) -> None:
    eng = fresh(trained)
    eng.create_experiment("x", [{"name": "base", "share": 0.5},
                                {"name": "explore", "share": 0.5,
                                 "overrides": {"exploration": 1.0}}], now=T)  # fmt: skip
    loop = eng.online
    assert loop is not None
    user = next(f"v{i}" for i in range(1000)
                if loop.assign(f"v{i}")[1].name == "explore")  # type: ignore[union-attr]
    rec = eng.recommend(user, 6, now=T)
    explored = [s for s in rec.items if s.reason.startswith("exploration")]
    assert len(explored) == 5 and rec.items[0] not in explored


def test_the_memory_store_is_what_memory_storage_gets() -> None:
    assert isinstance(open_online_store(open_storage("memory://")), MemoryOnlineStore)


def test_a_credit_stays_only_with_an_event_the_log_stored(
    trained: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    eng = fresh(trained)
    store = eng.online.store  # type: ignore[union-attr]
    rec = eng.recommend("u6", 5, now=T)
    click = Event("u6", rec.items[0].item_id, "click", T + 1, event_id="c-1",
                  recommendation_id=rec.recommendation_id)  # fmt: skip

    def down(*args: object, **kwargs: object) -> list[int | None]:
        raise ConnectionError("log down")

    with monkeypatch.context() as m:
        m.setattr(eng.storage, "append", down)
        with pytest.raises(ConnectionError):
            eng.ingest(click)
    assert list(store.attributions()) == []  # written first, then undone
    assert eng.ingest(click) is True
    assert len(list(store.attributions())) == 1
    # a retry the log refuses leaves no second credit, even once a newer list shows the item
    again = eng.recommend("u6", 20, now=T + 2, exclude_seen=False)
    assert click.item_id in {s.item_id for s in again.items}
    retry = Event("u6", click.item_id, "click", T + 3, event_id="c-1")
    assert eng.ingest(retry) is False
    assert len(list(store.attributions())) == 1
    assert group(eng)["clicks"] == 1
