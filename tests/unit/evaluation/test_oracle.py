"""The oracle lists of a generated log: probabilities of the true process, known answers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pulserec.evaluation.oracle import KINDS, _Window, hit_rate, oracle_places
from pulserec.evaluation.replay import plan_replay
from pulserec.evaluation.synthetic import (
    EPOCH,
    Truth,
    generate,
    generate_with_truth,
    shape_of,
)

SMALL: dict[str, Any] = {"n_users": 300, "n_items": 300, "n_topics": 6, "events_median": 6.0}


def tiny_truth(**knobs: Any) -> Truth:
    """Two topics, four items: 0 and 1 in topic 0, 2 and 3 in topic 1; item 3 hot."""
    return Truth(
        shape=shape_of(n_topics=2, n_items=4, **knobs),
        topic=np.array([0, 0, 1, 1]),
        window_s=100.0,
        appeal=np.array([[1.0, 3.0, 2.0, 2.0]]),
        hot=[np.array([3])],
        event_topic={},
    )


def test_window_probabilities_by_hand() -> None:
    truth = tiny_truth(trend_strength=0.2, noise=0.5)
    win = _Window(truth, 0)
    # item 1 under topic 0: trend 0; noise 0.8 * 0.5 * 3/8; own topic 0.8 * 0.5 * 3/4
    p_topic0 = win.probabilities(np.array([1.0, 0.0]))
    assert p_topic0[1] == pytest.approx(0.8 * 0.5 * 3 / 8 + 0.8 * 0.5 * 3 / 4)
    # item 3 under topic 1: the hot set's share too
    p_topic1 = win.probabilities(np.array([0.0, 1.0]))
    assert p_topic1[3] == pytest.approx(0.2 + 0.8 * 0.5 * 2 / 8 + 0.8 * 0.5 * 2 / 4)
    for p in (p_topic0, p_topic1, win.probabilities(np.array([0.5, 0.5]))):
        assert p.sum() == pytest.approx(1.0)
    # likelihood: the same numbers read the other way
    assert win.likelihood(1) == pytest.approx([p_topic0[1], p_topic1[1]])


def test_empty_topic_draws_from_anywhere() -> None:
    truth = tiny_truth(noise=0.0)
    truth.appeal[0, 2:] = 0.0  # nothing of topic 1 is available
    win = _Window(truth, 0)
    p = win.probabilities(np.array([0.0, 1.0]))
    assert p == pytest.approx([0.25, 0.75, 0.0, 0.0])


def test_hit_rate_breaks_ties_at_random() -> None:
    place = np.array([[0, 0], [9, 0], [10, 0], [5, 9], [8, 3]])
    assert hit_rate(place, k=10) == pytest.approx([1.0, 1.0, 0.0, 0.5, 0.5])


def test_truth_is_what_generated_the_log() -> None:
    shape = shape_of(**SMALL)
    ds, truth = generate_with_truth(shape, seed=5)
    assert ds.events.equals(generate(shape, seed=5).events)
    ev = ds.events
    assert len(truth.event_topic) == len(ev)
    for item, ts in ev[["item_id", "timestamp"]].itertuples(index=False):
        i = int(item[1:])
        assert truth.appeal[truth.window(ts), i] > 0 or i in truth.hot[truth.window(ts)]
    # without noise or trends, an event's item is of the topic it was drawn from
    ds, truth = generate_with_truth(shape_of(**SMALL, noise=0.0), seed=5)
    topics = [truth.event_topic[(u, i)] == truth.topic[int(i[1:])]
              for u, i in ds.events[["user_id", "item_id"]].itertuples(index=False)]  # fmt: skip
    assert all(topics)
    assert truth.window(EPOCH - 5.0) == 0 and truth.window(EPOCH + 1e12) == len(truth.appeal) - 1


def test_a_steady_topic_is_learnt_from_one_event() -> None:
    # no drift, no noise, no trends: one event says the user's topic for good, so the
    # history-reading oracle is the topic-knowing one from the first event on
    ds, truth = generate_with_truth(
        shape_of(**SMALL, drift=0.0, noise=0.0, trend_strength=0.0), seed=2
    )
    plan = plan_replay(ds)
    places = oracle_places(plan, truth)
    assert set(places) == set(KINDS)
    known = plan.history > 0
    assert known.sum() > 100
    np.testing.assert_array_equal(places["bayes"][known], places["topic"][known])
    np.testing.assert_array_equal(places["bayes"][~known], places["crowd"][~known])
    hits = {kind: hit_rate(p)[known].mean() for kind, p in places.items()}
    assert hits["bayes"] > 2 * hits["crowd"]


def test_a_hot_set_only_log_is_ranked_perfectly_by_everyone() -> None:
    # every event from a hot set of 10: each oracle's top 10 is the hot set
    ds, truth = generate_with_truth(shape_of(**SMALL, trend_strength=1.0, n_hot=10), seed=3)
    places = oracle_places(plan_replay(ds), truth)
    for place in places.values():
        assert hit_rate(place).min() == 1.0


def test_the_oracles_are_ordered() -> None:
    ds, truth = generate_with_truth(shape_of("visits-like", n_users=1500, n_items=1500), seed=1)
    plan = plan_replay(ds)
    hits = {kind: hit_rate(p).mean() for kind, p in oracle_places(plan, truth).items()}
    assert hits["crowd"] <= hits["frozen"] < hits["bayes"] < hits["topic"]
    # users without events before: reading them cannot help
    new = plan.history == 0
    places = oracle_places(plan, truth)
    np.testing.assert_array_equal(places["bayes"][new], places["crowd"][new])
