"""Items without a category grouped by their text (engine/texttopics.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from shop import CFG

from pulserec.engine import Engine
from pulserec.engine.sources import SOURCES
from pulserec.engine.sources.trending import recent_categories
from pulserec.engine.texttopics import MIN_ITEMS, TextTopics, fit_text_topics, topic_count
from pulserec.text import make_encoder
from pulserec.types import Event, Item

TOPICS = {
    "jazz": "saxophone trumpet swing bebop",
    "tea": "oolong matcha teapot brew",
    "hike": "trail boots summit ridge",
}


def plain_catalog(per_topic: int = 25) -> list[Item]:
    """Items without a category whose text is their topic's words and an id of their own."""
    return [
        Item(f"{topic}-{j}", title=f"{words} no{j}")
        for topic, words in TOPICS.items()
        for j in range(per_topic)
    ]


def topic_of(item_id: str) -> str:
    return item_id.rsplit("-", 1)[0]


def engine(**knobs: bool) -> Engine:
    return Engine(
        encoder=make_encoder("hashing", dim=64), config=replace(CFG, sequential=False, **knobs)
    )


def trained(eng: Engine) -> Engine:
    eng.upsert_items(plain_catalog())
    for u in range(12):  # each user keeps to one topic
        topic = list(TOPICS)[u % 3]
        for t in range(4):
            eng.ingest(Event(f"u{u}", f"{topic}-{(u + 3 * t) % 25}", "click", 100.0 * u + t))
    eng.train()
    return eng


def groups(eng: Engine) -> dict[int, set[str]]:
    """Each group code -> the topics of its items."""
    out: dict[int, set[str]] = {}
    for j, code in enumerate(eng.items.category.tolist()):
        out.setdefault(code, set()).add(topic_of(eng.catalog.at(j).item_id))
    return out


def test_clusters_of_separated_vectors_each_hold_one_of_them() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(3, 16, dtype=np.float32)
    truth = np.repeat(np.arange(3), 40)
    vectors = centres[truth] + 0.05 * rng.standard_normal((120, 16)).astype(np.float32)
    fitted = fit_text_topics(vectors, random_state=0)
    assert fitted is not None
    topics, assigned = fitted
    assert len(topics) == topic_count(120) == 11  # more clusters than there are groups
    for j in np.unique(assigned):  # none mixes two groups
        assert len(np.unique(truth[assigned == j])) == 1
    assert assigned.tolist() == topics.assign(vectors).tolist()
    assert fit_text_topics(vectors[: MIN_ITEMS - 1]) is None


def test_nearest_centroid_assignment_runs_in_batches() -> None:
    topics = TextTopics(np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=np.float32))
    vectors = np.array([[0.2, 0.9], [-0.8, 0.1], [0.7, -0.2]] * 5)
    assert topics.assign(vectors, batch=2).tolist() == [1, 2, 0] * 5


def test_a_refit_groups_items_without_a_category_by_their_text() -> None:
    eng = trained(engine())
    found = groups(eng)
    assert -1 not in found  # every item has text, so every item has a group
    assert len(found) >= 3 and all(len(t) == 1 for t in found.values())  # each group pure
    # a user's latest items now have categories, so the category signals speak
    request = eng.ranker.request(None, eng.states.get("u0"), "u0")
    shares = recent_categories(request)
    assert shares is not None
    proposed = SOURCES["category"].candidates(request, 20)
    assert proposed is not None
    assert {topic_of(eng.catalog.at(int(i)).item_id) for i in proposed} == {"jazz"}


def test_an_item_upserted_later_joins_the_nearest_topic_and_categories_win() -> None:
    eng = trained(engine())
    eng.upsert_items([Item("tea-new", title="oolong matcha teapot brew fresh")])
    code = int(eng.items.category[eng.catalog.idx("tea-new")])
    members = eng.items.category_members(code)
    assert {topic_of(eng.catalog.at(int(j)).item_id) for j in members} == {"tea"}
    eng.upsert_items([Item("jazz-3", title="saxophone", categories=("jazz",))])
    jazz = eng.items.category_codes["jazz"]
    assert int(eng.items.category[eng.catalog.idx("jazz-3")]) == jazz  # a category is kept
    eng.train()  # and stays the item's group through the next refit
    assert int(eng.items.category[eng.catalog.idx("jazz-3")]) == jazz
    assert eng.items.category_members(jazz).tolist() == [eng.catalog.idx("jazz-3")]
    eng.upsert_items([Item("jazz-4")])  # no text: no group
    assert int(eng.items.category[eng.catalog.idx("jazz-4")]) == -1


def test_without_the_setting_items_without_a_category_have_no_group() -> None:
    eng = trained(engine(text_topics=False))
    assert set(eng.items.category.tolist()) == {-1}


def test_a_reason_names_a_text_group_by_a_keyword_of_its_topic() -> None:
    from pulserec.engine.features import NAMES

    eng = trained(engine())
    eng.fit_topics()  # the insight's labelled topics give the keyword
    picked = np.array([eng.catalog.idx("tea-7")])
    eng.items.interactions[picked] = 1  # not new
    contrib = np.zeros((1, len(NAMES)))
    contrib[0, NAMES.index("category_trending")] = 1.0
    (reason,) = eng.ranker.explainer.reasons(None, eng.states.get("u1"), picked, contrib)
    assert reason.startswith("popular in ") and reason.endswith(" now"), reason
    assert reason.split()[2] in TOPICS["tea"].split(), reason
    eng.upsert_items([Item("bare")])  # no group at all: the reason says what else it can
    picked = np.array([eng.catalog.idx("bare")])
    eng.items.interactions[picked] = 1
    assert eng.ranker.explainer.reasons(None, None, picked, contrib) == ["popular now"]
