"""The packaged demo catalog, its synthetic history, and a demo-seeded engine."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import pytest

from pulserec.demo import (
    DEFAULT_START_TS,
    generate_history,
    load_demo_items,
    make_users,
    seed_engine,
    topic_of,
)
from pulserec.engine import Engine, EngineConfig
from pulserec.text import make_encoder
from pulserec.types import EVENT_TYPES, Event, Item

CJK = re.compile(r"[\u4e00-\u9fff]")
POSITIVE = {"click", "cart", "purchase", "like"}
DAY = 86_400.0


@pytest.fixture(scope="module")
def items() -> list[Item]:
    return load_demo_items()


@pytest.fixture(scope="module")
def events(items: list[Item]) -> list[Event]:
    return generate_history(items)  # the defaults `make run` uses: 200 users, seed 2026


def is_positive(e: Event) -> bool:
    return e.type in POSITIVE or (e.type == "rate" and (e.value or 0) >= 4)


# ------------------------------------------------------------------------------- catalog
def test_catalog_parses_into_valid_items(items: list[Item]) -> None:
    ids = [it.item_id for it in items]
    assert len(items) >= 250 and len(set(ids)) == len(ids)
    for it in items:
        lang, topic = it.attributes["lang"], topic_of(it)
        assert it.title.strip() and it.text.strip(), it.item_id
        assert len(it.categories) == 2 and all(it.categories), it.item_id
        assert re.fullmatch(rf"{lang}-{topic}-\d{{3}}", it.item_id), it.item_id
        assert it.attributes["kind"] in {"product", "article", "video"}
        assert it.attributes["price"] >= 0 and it.created_at is not None
        assert (it.attributes["price"] > 0) == (it.attributes["kind"] == "product"), it.item_id
        product = it.attributes["kind"] == "product"
        assert product == ("brand" in it.attributes) == ("stock" in it.attributes)
        # the text alone tells the language
        has_cjk = bool(CJK.search(it.title + it.text))
        assert has_cjk == (lang == "zh"), it.item_id


def test_catalog_mixes_topics_and_languages(items: list[Item]) -> None:
    topics = Counter(topic_of(it) for it in items)
    langs = Counter(it.attributes["lang"] for it in items)
    assert len(topics) >= 8 and min(topics.values()) >= 10
    assert set(langs) == {"en", "zh"}
    assert 0.55 <= langs["en"] / len(items) <= 0.75  # about two thirds English
    # cross-lingual search needs the same topics in both languages
    langs_of: dict[str, set[str]] = defaultdict(set)
    for it in items:
        langs_of[topic_of(it)].add(it.attributes["lang"])
    both = {t for t, seen in langs_of.items() if seen == {"en", "zh"}}
    assert len(both) >= 8


# ------------------------------------------------------------------------------- history
def test_generation_is_deterministic(items: list[Item]) -> None:
    a = generate_history(items, n_users=20, seed=11)
    assert a == generate_history(items, n_users=20, seed=11)
    assert a != generate_history(items, n_users=20, seed=12)
    assert make_users(["tea", "music"], 5, seed=3) == make_users(["music", "tea"], 5, seed=3)


def test_events_are_valid_and_time_ordered(items: list[Item], events: list[Event]) -> None:
    by_id = {it.item_id: it for it in items}
    assert 10_000 <= len(events) <= 20_000
    assert [e.event_id for e in events] == [f"demo-{n}" for n in range(len(events))]
    ts = [e.timestamp for e in events]
    assert ts == sorted(ts)
    assert DEFAULT_START_TS <= ts[0] and ts[-1] <= DEFAULT_START_TS + 31 * DAY
    users = {e.user_id for e in events}
    assert len(users) == 200 and all(re.fullmatch(r"demo-user-\d{3}", u) for u in users)
    kinds = {e.type for e in events}
    assert POSITIVE | {"view", "rate", "dislike", "search", "comment"} <= kinds <= EVENT_TYPES
    for e in events:
        if e.item_id is None:
            assert e.type == "search" and e.text
            continue
        item = by_id[e.item_id]
        assert item.created_at is not None and item.created_at <= e.timestamp, e
        if e.type == "comment":
            assert e.text
    texts = [e.text for e in events if e.type in {"search", "comment"}]
    assert any(CJK.search(t or "") for t in texts) and any(not CJK.search(t or "") for t in texts)


def test_favourite_topics_dominate_each_users_positive_events(
    items: list[Item], events: list[Event]
) -> None:
    topic = {it.item_id: topic_of(it) for it in items}
    favourites = {u.user_id: set(u.topics) for u in make_users(set(topic.values()), 200)}
    hits: dict[str, list[bool]] = defaultdict(list)
    for e in events:
        if e.item_id is not None and is_positive(e):
            hits[e.user_id].append(topic[e.item_id] in favourites[e.user_id])
    assert len(hits) == 200
    for user, flags in hits.items():
        assert sum(flags) / len(flags) >= 0.6, user
    assert sum(map(sum, hits.values())) / sum(map(len, hits.values())) >= 0.85


def test_sessions_stay_mostly_on_one_topic(items: list[Item], events: list[Event]) -> None:
    topic = {it.item_id: topic_of(it) for it in items}
    last: dict[str, tuple[float, str]] = {}
    same = steps = 0
    for e in events:
        if e.type != "view" or e.item_id is None:
            continue
        prev = last.get(e.user_id)
        if prev is not None and e.timestamp - prev[0] < 1800:  # the same session
            steps += 1
            same += prev[1] == topic[e.item_id]
        last[e.user_id] = (e.timestamp, topic[e.item_id])
    assert 0.7 <= same / steps < 0.98  # mostly one topic, with some drift


def test_popularity_is_skewed_within_each_topic(items: list[Item], events: list[Event]) -> None:
    views = Counter(e.item_id for e in events if e.type == "view")
    per_topic: dict[str, list[int]] = defaultdict(list)
    for it in items:
        per_topic[topic_of(it)].append(views[it.item_id])
    for t, counts in per_topic.items():
        counts.sort()
        assert counts[-1] >= 2 * counts[len(counts) // 2], t  # the hit: twice the median


# -------------------------------------------------------------------------------- engine
@pytest.fixture(scope="module")
def engine() -> Engine:
    quick = {"n_threads": 1, "n_factors": 32, "learning_rate": 1e-2, "n_epochs": 20, "patience": 3}
    cfg = EngineConfig(n_factors=16, als_epochs=5, sequential_params=quick)
    eng = Engine(encoder=make_encoder("hashing"), config=cfg)
    report = seed_engine(eng, n_users=50, seed=5)
    assert report.n_events == report.n_new_events > 1000 and report.model_version
    return eng


def test_seeding_twice_appends_nothing(engine: Engine) -> None:
    before = engine.storage.counts()
    again = seed_engine(engine, n_users=50, seed=5, train=False)
    assert again.n_new_events == 0 and engine.storage.counts() == before


@pytest.mark.parametrize("topic", ["tea", "football"])
def test_a_one_topic_history_gets_that_topic(engine: Engine, items: list[Item], topic: str) -> None:
    user = f"probe-{topic}"
    picks = [it.item_id for it in items if topic_of(it) == topic][:5]
    t = DEFAULT_START_TS + 40 * DAY
    for j, item_id in enumerate(picks):
        engine.ingest(Event(user, item_id, "click", t + 60 * j))
    rec = engine.recommend(user, 10)
    topics = [topic_of(engine.catalog.at(engine.catalog.idx(s.item_id))) for s in rec.items]
    assert topics.count(topic) >= 7, topics
    assert not set(picks) & {s.item_id for s in rec.items}


def test_seeded_users_get_their_favourite_topics(engine: Engine, items: list[Item]) -> None:
    topic = {it.item_id: topic_of(it) for it in items}
    users = make_users(set(topic.values()), 50, seed=5)
    share = [
        sum(topic[s.item_id] in u.topics for s in engine.recommend(u.user_id, 10).items) / 10
        for u in users
    ]
    assert sum(share) / len(share) >= 0.45  # far above chance (about 0.15 per topic)


def test_the_demo_shop_placement_sells_stocked_products_with_a_sponsored_share(
    engine: Engine,
) -> None:
    assert [p.name for p in engine.placements()] == ["product-page", "reading", "shop"]
    rec = engine.recommend("probe-shop", 10, placement="shop")
    items = [engine.catalog.get(s.item_id) for s in rec.items]
    assert len(items) == 10
    assert all(it.attributes["kind"] == "product" and it.attributes["stock"] > 0 for it in items)
    sponsored = [s for s, it in zip(rec.items, items, strict=True) if it.attributes["sponsored"]]
    assert len(sponsored) == 2 and all(s.reason == "promoted" for s in sponsored)
