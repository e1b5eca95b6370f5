"""Users without events, and with one or two items: their weights fitted on every user's
first choices, and the slow counts ("popular") a newcomer's first choice often follows."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from shop import CFG, catalog, history

from pulserec.catalog.catalog import Catalog
from pulserec.engine import Engine
from pulserec.engine.blend import MIN_SEGMENT_LISTS, fit_segment_weights
from pulserec.engine.features import NAMES, feature_matrix
from pulserec.engine.heldout import early_events, first_choices, first_events
from pulserec.engine.sources import SOURCES
from pulserec.ranking import ChoiceData
from pulserec.types import Event, Item

DAY = 86400.0


def test_first_events_are_each_users_first_positive_event_on_a_catalog_item() -> None:
    cat = Catalog()
    cat.upsert([Item("a"), Item("b"), Item("c")])
    events = [
        Event("u1", "a", "impression", 1.0),  # shown, not taken: not a choice
        Event("u1", "b", "click", 2.0),  # u1's first choice
        Event("u2", "zzz", "click", 3.0),  # an item the catalog lacks
        Event("u2", "a", "purchase", 4.0),  # u2's first choice
        Event("u1", "c", "click", 5.0),  # u1's second
        Event("u3", "a", "dislike", 6.0),
    ]
    rng = np.random.default_rng(0)
    assert first_events(first_choices(events, cat), 10, rng) == {1, 3}
    one = first_events(first_choices(events, cat), 1, rng)
    assert len(one) == 1 and one <= {1, 3}


def test_early_events_are_second_and_third_choices_of_new_items() -> None:
    cat = Catalog()
    cat.upsert([Item(x) for x in "abcde"])
    events = [
        Event("u1", "a", "click", 1.0),  # u1's first: not an early event
        Event("u2", "b", "click", 2.0),
        Event("u1", "a", "click", 3.0),  # the same item again: not a new choice
        Event("u1", "b", "impression", 4.0),  # not taken
        Event("u1", "c", "click", 5.0),  # u1's second
        Event("u1", "d", "purchase", 6.0),  # u1's third
        Event("u1", "e", "click", 7.0),  # u1's fourth: past the early ones
        Event("u3", "a", "click", 8.0),  # u3 made one choice only
    ]
    rng = np.random.default_rng(0)
    # each maps to its user's last early event, after which that user's state is let go
    assert early_events(first_choices(events, cat), 10, rng) == {4: 5, 5: 5}
    events.append(Event("u2", "zzz", "click", 9.0))  # an item the catalog lacks
    events.append(Event("u2", "c", "click", 10.0))  # u2's second
    assert early_events(first_choices(events, cat), 10, rng) == {4: 5, 5: 5, 9: 9}
    one = early_events(first_choices(events, cat), 1, rng)
    assert one in ({4: 5, 5: 5}, {9: 9})


def _lists(n: int, decider: str, seed: int, segment: int = 0) -> ChoiceData:
    """``n`` candidate lists where the item highest on feature ``decider`` is taken."""
    rng = np.random.default_rng(seed)
    feats = [rng.normal(size=(5, len(NAMES))) for _ in range(n)]
    chosen = [int(np.argmax(f[:, NAMES.index(decider)])) for f in feats]
    return ChoiceData(feats, chosen, [segment] * n)


def test_a_thin_first_segment_is_fitted_on_users_first_choices() -> None:
    # the held-out window: 10 choices of users without events, too few for weights of
    # their own; before it, 100 users' first choices, each the item most taken this year
    window = _lists(10, "popular", seed=1)
    first = _lists(MIN_SEGMENT_LISTS, "popular", seed=2)
    everyone = np.ones(len(NAMES))
    metrics: dict[str, float] = {}
    assert fit_segment_weights(window, everyone, metrics) is None  # everyone's for all
    rows = fit_segment_weights(window, everyone, metrics, first=first)
    assert rows is not None
    pop, trend = NAMES.index("popular"), NAMES.index("trending")
    assert rows[0, pop] > everyone[pop] and rows[0, pop] > rows[0, trend]
    np.testing.assert_array_equal(rows[1:], np.tile(everyone, (3, 1)))
    assert metrics["lists_0"] == 10.0 and metrics["first_choices"] == MIN_SEGMENT_LISTS


def test_a_thin_short_history_segment_is_fitted_on_users_early_choices() -> None:
    # the window: 10 choices of users with one or two items; before it, users' second
    # choices follow the co-visitation counts of their first, and first choices this
    # year's favourites
    window = _lists(10, "covisit", seed=1, segment=1)
    early = _lists(MIN_SEGMENT_LISTS, "popular", seed=2)
    second = _lists(MIN_SEGMENT_LISTS, "covisit", seed=3, segment=1)
    early.features += second.features
    early.chosen += second.chosen
    early.segment += second.segment
    everyone = np.ones(len(NAMES))
    metrics: dict[str, float] = {}
    rows = fit_segment_weights(window, everyone, metrics, first=early)
    assert rows is not None
    pop, covisit = NAMES.index("popular"), NAMES.index("covisit")
    assert rows[0, pop] > rows[0, covisit] and rows[1, covisit] > rows[1, pop]
    np.testing.assert_array_equal(rows[2:], np.tile(everyone, (2, 1)))
    assert metrics["first_choices"] == metrics["early_choices"] == MIN_SEGMENT_LISTS
    assert metrics["early_kept"] == 1.0 and "early_ndcg@10" not in metrics
    # a window of 20 such choices that follow this hour's counts drops them
    hour = _lists(20, "trending_fast", seed=4, segment=1)
    fast = np.zeros(len(NAMES))
    fast[NAMES.index("trending_fast")] = 1.0
    rows = fit_segment_weights(hour, fast, metrics, first=early)
    assert rows is not None and metrics["early_kept"] == 0.0
    np.testing.assert_array_equal(rows[1], fast)
    assert metrics["early_ndcg@10"] < metrics["everyone_early_ndcg@10"] == 1.0


def test_a_refit_collects_first_choices_before_its_held_out_window() -> None:
    eng = Engine(config=replace(CFG, sequential=False))
    eng.upsert_items(catalog())
    eng.bootstrap(history())
    eng.train()
    assert eng.models is not None
    # the shop's 60 users come one after another: those before the held-out window made
    # their first choice there, among what was trending at that moment, and their second
    # and third
    assert 0 < eng.models.metrics["first_choices"] <= 60
    assert 0 < eng.models.metrics["early_choices"] <= 120


def test_popular_counts_decay_over_a_year_and_the_source_proposes_their_top() -> None:
    eng = Engine(config=replace(CFG, sequential=False))
    eng.upsert_items(catalog())
    now = 1_000.0 * DAY
    for j in range(5):  # jazz-1: five takes 200 days ago
        eng.ingest(Event(f"old{j}", "jazz-1", "click", now - 200 * DAY + j))
    for j in range(3):  # hiking-1: three takes today
        eng.ingest(Event(f"new{j}", "hiking-1", "click", now + j))
    live = eng.items.live
    old, new = eng.catalog.idx("jazz-1"), eng.catalog.idx("hiking-1")
    scores = live.popular.scores(len(eng.catalog))
    np.testing.assert_allclose(scores[old], 5 * 2 ** (-200 / 365), rtol=1e-3)
    np.testing.assert_allclose(scores[new], 3.0, rtol=1e-6)
    # a year's counts put the old favourite first; three days' the new one
    trending = live.trending.scores(len(eng.catalog))
    assert scores[old] > scores[new] and trending[new] > trending[old]
    request = eng.ranker.request(None, None, "someone")
    proposed = SOURCES["popular"].candidates(request, 20)
    assert proposed is not None and proposed[:2].tolist() == [old, new]
    cands = np.array([old, new, eng.catalog.idx("jazz-2")])
    col = feature_matrix(request, cands)[:, NAMES.index("popular")]
    np.testing.assert_allclose(col, np.log1p(scores[cands]))
    assert col[2] == 0.0 and not math.isnan(col[0])


def test_first_choice_weights_are_dropped_where_the_window_ranks_worse_by_them() -> None:
    from pulserec.engine.blend import MIN_FIRST_CHECK

    # before the window newcomers took the year's favourite; in it, this hour's hit
    first = _lists(MIN_SEGMENT_LISTS, "popular", seed=2)
    window = _lists(MIN_FIRST_CHECK, "trending_fast", seed=3)
    everyone = np.zeros(len(NAMES))
    everyone[NAMES.index("trending_fast")] = 1.0
    metrics: dict[str, float] = {}
    assert fit_segment_weights(window, everyone, metrics, first=first) is None
    assert metrics["first_kept"] == 0.0
    assert metrics["first_ndcg@10"] < metrics["everyone_ndcg@10"] == 1.0
    # the same window agreeing with them keeps them
    agreeing = _lists(MIN_FIRST_CHECK, "popular", seed=3)
    rows = fit_segment_weights(agreeing, everyone, metrics, first=first)
    assert rows is not None and metrics["first_kept"] == 1.0
    assert rows[0, NAMES.index("popular")] > rows[0, NAMES.index("trending_fast")]
