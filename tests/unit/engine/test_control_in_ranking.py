"""Filter and boost expressions inside retrieval, on the two-topic shop."""

from __future__ import annotations

import numpy as np
import pytest
from shop import CFG, N_PER_TOPIC, catalog, history

from pulserec.engine import Engine
from pulserec.engine.sources import SOURCES
from pulserec.text import make_encoder
from pulserec.types import Event, Item, ValidationError


def priced() -> list[Item]:
    """The shop, each item priced at its number; every third one out of stock."""
    out = []
    for it in catalog():
        j = int(it.item_id.split("-")[1])
        attributes = {"price": float(j), "stock": j % 3 != 0, "brand": "acme" if j < 5 else "zen"}
        out.append(Item(it.item_id, it.title, it.text, it.categories, attributes))
    return out


@pytest.fixture(scope="module")
def engine() -> Engine:
    eng = Engine(encoder=make_encoder("hashing"), config=CFG)
    eng.upsert_items(priced())
    eng.bootstrap(history())
    eng.train(sequential=False)
    return eng


def ids(engine: Engine, user: str, k: int = 10, **kwargs: object) -> list[str]:
    return [s.item_id for s in engine.recommend(user, k, **kwargs).items]  # type: ignore[arg-type]


def number(item_id: str) -> int:
    return int(item_id.split("-")[1])


@pytest.mark.parametrize("user", ["u0", "u1", "stranger"])
def test_every_item_passes_and_the_list_is_full_when_enough_do(engine: Engine, user: str) -> None:
    # u0 is into jazz, u1 into hiking; the filter asks for cheap hiking items in stock
    got = ids(
        engine, user, 10, filter="item.category == 'hiking' and item.price < 20 and item.stock"
    )
    assert len(got) == 10
    assert all(g.startswith("hiking") and number(g) < 20 and number(g) % 3 for g in got)


def test_a_filter_few_items_pass_gives_exactly_those(engine: Engine) -> None:
    got = ids(engine, "stranger", 10, filter="item.price >= 28 and item.stock")
    assert sorted(got) == ["hiking-28", "hiking-29", "jazz-28", "jazz-29"]
    assert ids(engine, "stranger", 10, filter="item.price > 1000") == []


def test_the_users_own_context(engine: Engine) -> None:
    t = 5_000_000.0
    engine.ingest(Event("walker", "hiking-2", "click", t))
    got = ids(engine, "walker", 8, filter="item.category in user.recent_categories")
    assert len(got) == 8 and all(g.startswith("hiking") for g in got)
    assert "hiking-2" not in got  # seen items stay out, as without a filter
    again = ids(engine, "walker", 8, filter="item.id in user.seen", exclude_seen=False)
    assert again == ["hiking-2"]


def test_deleted_items_never_pass(engine: Engine) -> None:
    engine.upsert_items([Item("gone-1", attributes={"price": 999.0})])
    assert ids(engine, "u0", 5, filter="item.price == 999") == ["gone-1"]
    engine.delete_item("gone-1")
    assert ids(engine, "u0", 5, filter="item.price == 999") == []


def test_a_boost_moves_items_up_and_changes_nothing_else(engine: Engine) -> None:
    plain = ids(engine, "u0", 10)
    assert sum(p.startswith("jazz") for p in plain) >= 8  # u0 is into jazz
    boosted = ids(engine, "u0", 10, boost="100 * (item.category == 'hiking' and item.price < 3)")
    assert sorted(boosted[:3]) == ["hiking-0", "hiking-1", "hiking-2"]
    assert ids(engine, "u0", 10, boost="0 * item.price") == plain


def test_every_source_searches_inside_the_mask(engine: Engine) -> None:
    engine.ingest(Event("mixer", "jazz-4", "click", 6_000_000.0))
    request = engine.ranker.request(engine.models, engine.states.get("mixer"), "mixer")
    request.allowed = np.zeros(len(engine.catalog), dtype=bool)
    allowed = engine.catalog.id_map.lookup([f"jazz-{j}" for j in range(0, N_PER_TOPIC, 7)])
    request.allowed[allowed] = True
    for name, source in SOURCES.items():
        found = source.candidates(request, 10)
        if found is not None:
            found = found[found >= 0]
            assert set(found.tolist()) <= set(allowed.tolist()), name


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"filter": "item.price <"}, "filter", "expected a value at position 12"),
        ({"filter": "item.colour == 'red'"}, "filter", "unknown item property 'colour'"),
        ({"boost": "item.brand"}, "boost", "a boost must be a number, not a string"),
    ],
)
def test_a_bad_expression_names_the_parameter(
    engine: Engine, kwargs: dict[str, str], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        engine.recommend("u0", 5, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field and message in info.value.message
