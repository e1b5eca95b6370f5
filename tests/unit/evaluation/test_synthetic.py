"""The synthetic event logs: each knob moves the shape statistic it is meant to move."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pulserec.evaluation.synthetic import (
    PRESETS,
    SyntheticShape,
    load_synthetic,
    shape_of,
    shape_stats,
)
from pulserec.events.frames import event_frame, finish

SMALL = {"n_users": 400, "n_items": 400, "n_topics": 8}


def stats(**knobs: object) -> dict[str, float]:
    return shape_stats(load_synthetic(**{**SMALL, **knobs}))  # type: ignore[arg-type]


def test_seeded_and_well_formed() -> None:
    a = load_synthetic(seed=3, **SMALL)
    b = load_synthetic(seed=3, **SMALL)
    c = load_synthetic(seed=4, **SMALL)
    pd.testing.assert_frame_equal(a.events, b.events)
    assert not a.events["item_id"].equals(c.events["item_id"])
    ev = a.events
    assert ev["timestamp"].is_monotonic_increasing
    assert not ev.duplicated(["user_id", "item_id"]).any()  # a user takes an item once
    assert set(ev["item_id"]) <= set(a.items["item_id"])
    item = a.items.iloc[0]
    assert item["categories"][0].startswith("topic-") and len(item["text"].split()) == 8
    # an item's events never come before it arrives
    first = ev.groupby("item_id")["timestamp"].min()
    created = a.items.set_index("item_id")["created_at"].reindex(first.index)
    assert (first >= created).all()


@pytest.mark.parametrize("median", [4, 15])
def test_median_events_per_user_follows_the_knob(median: int) -> None:
    got = stats(events_median=float(median), n_items=2000)["median_events_per_user"]
    assert abs(got - median) <= max(1.0, 0.15 * median)


def test_single_event_users() -> None:
    assert stats(single_share=0.0)["single_event_user_share"] == 0.0
    assert stats(single_share=0.4)["single_event_user_share"] == pytest.approx(0.4, abs=0.06)


def test_trend_strength_concentrates_the_test_period() -> None:
    # one hot set for the whole test period: its 10 items take about the trend's share
    # (short histories: a user takes each hot item once at most)
    one = {"trend_period_s": 20 * 86400.0, "duration_s": 100 * 86400.0, "events_median": 3.0}
    shares = [stats(trend_strength=t, **one)["top10_share"] for t in (0.0, 0.3, 0.6)]
    assert shares[0] < shares[1] < shares[2]
    assert shares[2] > shares[0] + 0.25
    # a hot set that moves every 3 days spreads the same strength over more items
    assert stats(trend_strength=0.6, events_median=3.0)["top10_share"] < shares[2]


def test_item_arrival_brings_new_items_into_the_test_period() -> None:
    settled, arriving = stats(arrival_share=0.0), stats(arrival_share=0.8)
    assert settled["new_item_share"] == 0.0
    assert arriving["new_item_share"] > 0.1


def test_drift_spreads_a_user_over_more_topics() -> None:
    def topics_per_user(drift: float) -> float:
        ds = load_synthetic(drift=drift, noise=0.0, **SMALL)  # type: ignore[arg-type]
        topic = ds.items.set_index("item_id")["categories"].str[0]
        ev = ds.events.assign(topic=topic.reindex(ds.events["item_id"]).to_numpy())
        return float(ev.groupby("user_id")["topic"].nunique().mean())

    assert topics_per_user(0.0) < 1.5  # no drift, no noise: one topic, trends aside
    assert topics_per_user(0.5) > topics_per_user(0.0) + 2


def test_without_categories_only_the_metadata_goes() -> None:
    with_categories = load_synthetic(seed=3, **SMALL)
    without = load_synthetic(seed=3, categories=False, **SMALL)
    pd.testing.assert_frame_equal(with_categories.events, without.events)
    assert all(len(c) == 1 for c in with_categories.items["categories"])
    assert all(c == () for c in without.items["categories"])
    # the topic stays among the attributes, for benchmarks that read it
    assert without.items["attributes"].tolist() == with_categories.items["attributes"].tolist()


def test_a_coarse_resolution_stamps_dates_and_keeps_the_order() -> None:
    exact = load_synthetic(seed=3, **SMALL).events
    dated = load_synthetic(seed=3, resolution_s=86400.0, **SMALL).events
    # the same events in the same order, each at the start of its day
    pd.testing.assert_frame_equal(exact.drop(columns="timestamp"), dated.drop(columns="timestamp"))
    np.testing.assert_array_equal(
        dated["timestamp"].to_numpy(), np.floor(exact["timestamp"].to_numpy() / 86400) * 86400
    )
    assert dated["timestamp"].nunique() < exact["timestamp"].nunique() / 10


def test_presets_and_knob_errors() -> None:
    assert set(PRESETS) == {"ml-100k-like", "globo-like", "shop-like", "visits-like"}
    assert shape_of("globo-like", n_users=10).n_users == 10
    with pytest.raises(ValueError, match="preset"):
        shape_of("nope")
    with pytest.raises(ValueError, match="unknown knob"):
        shape_of(None, trend=0.5)
    with pytest.raises(ValueError, match="drift"):
        SyntheticShape(drift=1.5)
    with pytest.raises(ValueError, match="freshness_half_life_s"):
        SyntheticShape(freshness_half_life_s=0.0)
    with pytest.raises(ValueError, match="resolution_s"):
        SyntheticShape(resolution_s=-1.0)


def test_shape_stats_known_answer() -> None:
    # cut at the 0.5 quantile of t = 0..5: 2.5; test events at 3, 4, 5
    raw = event_frame(
        ["u1", "u1", "u2", "u1", "u3", "u3"],
        ["a", "b", "a", "c", "c", "a"],
        ["click", "click", "click", "click", "impression", "click"],
        np.arange(6.0),
    )
    ds = finish("t", raw, None, value_range=None, verbose=False)
    s = shape_stats(ds, train_fraction=0.5)
    assert s["median_events_per_user"] == 1.0  # u1 3, u2 1, u3 1 positive
    assert s["single_event_user_share"] == pytest.approx(2 / 3)
    assert s["new_item_share"] == 0.5  # test positives c (new at t3) and a (old)
    assert s["top10_share"] == 1.0
    assert s["items_per_user"] == pytest.approx(5 / 3)
