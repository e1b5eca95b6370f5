"""The real-time promise on real data: ml-100k through the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from pulserec.catalog import Catalog
from pulserec.engine import Engine, EngineConfig
from pulserec.evaluation.replay import to_events
from pulserec.events import load_dataset
from pulserec.types import Event

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def engine(dataset_dir) -> Engine:  # type: ignore[no-untyped-def]
    ds = load_dataset("ml-100k", Path(dataset_dir("ml-100k")), verbose=False)
    # a few epochs of the transformer (minutes to converge) keep the suite fast; one thread:
    # a second one only waits for the core other processes hold
    quick = {"n_threads": 1, "n_epochs": 4, "patience": None}
    eng = Engine(config=EngineConfig(max_fit_lists=800, als_epochs=8, sequential_params=quick))
    eng.upsert_items(list(Catalog.from_frame(ds.items)))
    eng.bootstrap(list(to_events(ds.events)))
    eng.train()
    return eng


def genre_share(engine: Engine, user_id: str, genre: str) -> float:
    rec = engine.recommend(user_id, 10)
    return sum(genre in engine.catalog.get(s.item_id).categories for s in rec.items) / 10


def test_three_horror_clicks_turn_a_new_users_list_to_horror(engine: Engine) -> None:
    horror = [it.item_id for it in engine.catalog if "Horror" in it.categories][:40]
    before = genre_share(engine, "newcomer", "Horror")
    t = 900_000_000.0
    for j, item_id in enumerate(horror[5:8]):
        engine.ingest(Event("newcomer", item_id, "click", t + j))
    after = genre_share(engine, "newcomer", "Horror")
    assert after >= 0.5 and after >= before + 0.4, (before, after)


def test_an_existing_users_list_follows_a_sudden_genre_run(engine: Engine) -> None:
    # user 1 has a long history; a run of children's films moves the very next list
    before = genre_share(engine, "1", "Children's")
    kids = [it.item_id for it in engine.catalog if "Children's" in it.categories]
    seen = {s.item_id for s in engine.recommend("1", 50).items}
    run = [i for i in kids if i not in seen][:4]
    for j, item_id in enumerate(run):
        engine.ingest(Event("1", item_id, "click", 900_000_100.0 + j))
    after = genre_share(engine, "1", "Children's")
    assert after > before and after >= 0.3, (before, after)
