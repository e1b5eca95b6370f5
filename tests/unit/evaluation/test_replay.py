"""Streaming replay: which events are scored, the baselines' ranks, the breakdowns."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from pulserec.evaluation.baselines import (
    BaselineSettings,
    LiveTrending,
    top_k,
    trending_name,
)
from pulserec.evaluation.replay import plan_replay, replay, replay_baselines, replay_methods
from pulserec.evaluation.replay_report import (
    MethodRun,
    ReplayReport,
    history_bucket,
    rank_metrics,
    time_slices,
)
from pulserec.evaluation.replay_tables import markdown_tables, rich_tables
from pulserec.events.base import Dataset
from pulserec.events.frames import event_frame, finish, item_frame
from pulserec.types import Event, Item, Recommendation, Scored

ITEMS = ["a", "b", "c", "d", "e"]


def tiny() -> Dataset:
    """Ten events at t = 0..9; a train fraction of 0.5 cuts at 4.5."""
    rows = [
        ("u1", "a", "click"),
        ("u2", "a", "click"),
        ("u1", "b", "click"),
        ("u2", "b", "impression"),
        ("u3", "c", "click"),
        ("u1", "a", "click"),  # re-consumption: never scored
        ("u1", "d", "click"),  # scored: d first appears here, after the cut
        ("u2", "b", "click"),  # scored: an impression is not a consumption
        ("u4", "e", "impression"),  # negative: ingested, not scored
        ("u4", "d", "click"),  # scored: u4 has no earlier positive event
    ]
    users, items, kinds = zip(*rows, strict=True)
    raw = event_frame(list(users), list(items), list(kinds), np.arange(10.0))
    n = len(ITEMS)
    catalog = item_frame(ITEMS, ITEMS, [""] * n, [()] * n, [{}] * n, np.full(n, np.nan))
    return finish("tiny", raw, catalog, value_range=None, verbose=False)


def test_plan_scores_first_consumptions_of_test_users_only() -> None:
    plan = plan_replay(tiny(), train_fraction=0.5)
    assert plan.cut == 4.5
    assert [e.timestamp for e in plan.train] == [0, 1, 2, 3, 4]
    assert plan.scored.tolist() == [False, True, True, False, True]
    assert [plan.items[i].item_id for i in plan.targets] == ["d", "b", "d"]
    assert plan.history.tolist() == [3, 1, 0]  # u1: a, b, a; u2: a; u4: nothing positive
    assert plan.new_item.tolist() == [True, False, True]
    assert plan.times.tolist() == [6.0, 7.0, 9.0]
    assert plan.pop_counts.tolist() == [2, 1, 1, 0, 0]
    assert plan.users == {"u1", "u2", "u4"}


def test_every_baseline_ranks_the_known_answer() -> None:
    plan = plan_replay(tiny(), train_fraction=0.5)
    runs = {r.name: r.ranks.tolist() for r in replay_baselines(plan, BaselineSettings(), k=10)}
    # popularity a2 b1 c1 d0 e0: u1 (seen a, b) gets c d e; u2 (seen a) b c..; u4 a b c d
    assert runs["popularity"] == [2, 1, 4]
    # live counts, the latest event breaking ties: at t7 d (t6) > c (t4) > b (t2) for u2;
    # at t9 a (3) > b (2) > d (t6) > c (t4)
    assert runs["trending"] == [2, 3, 3]
    assert runs["trending-1h"] == [2, 3, 3]
    assert runs["trending-10m"] == [2, 3, 3]  # the events are seconds apart: the same order
    # session-kNN: u1's only neighbour holds nothing unseen (trending fills); u2's
    # neighbour u1 holds b and d (tie: b, the lower index); u4 has no session
    assert runs["session-knn"] == [2, 1, 3]


def test_live_trending_decays_and_excludes() -> None:
    tr = LiveTrending(half_life_s=10.0, n_items=3)
    tr.add(0, 0.0)
    tr.add(0, 0.0)
    tr.add(1, 20.0)  # two events 2 half-lives old weigh 0.5 against one new
    assert tr.top(3).tolist() == [1, 0, 2]
    assert tr.top(3, exclude=np.array([1])).tolist() == [0, 2]
    tr.add(2, 30.0)
    assert tr.top(1).tolist() == [2]
    # a jump of a million half-lives rebases instead of overflowing
    tr.add(0, 1e7)
    assert np.isfinite(tr.values).all() and tr.top(1).tolist() == [0]
    tr.add(4, 1e7)  # an unknown index grows the counts
    assert tr.top(2).tolist() == [0, 4]
    with pytest.raises(ValueError, match="half_life_s"):
        LiveTrending(0.0)


def test_top_k_breaks_ties_by_index_and_respects_exclusion() -> None:
    s = np.array([1.0, 3.0, 3.0, 0.0, 2.0])
    assert top_k(s, 3).tolist() == [1, 2, 4]
    assert top_k(s, 3, np.array([2])).tolist() == [1, 4, 0]
    assert top_k(s, 10, np.array([0, 1, 2])).tolist() == [4, 3]
    assert top_k(np.zeros(4), 2).tolist() == [0, 1]


def test_trending_names() -> None:
    assert trending_name(259200.0, 259200.0) == "trending"
    assert trending_name(3600.0, 259200.0) == "trending-1h"
    assert trending_name(86400.0 * 2, 259200.0) == "trending-2d"
    assert trending_name(90.0, 259200.0) == "trending-90s"


def test_history_buckets_and_time_slices() -> None:
    assert history_bucket(np.array([0, 1, 2, 3, 9, 10, 11])).tolist() == [
        "0", "1-2", "1-2", "3-9", "3-9", "10+", "10+",
    ]  # fmt: skip
    idx, edges = time_slices(np.array([0.0, 4.9, 5.0, 10.0]), 0.0, 2)
    assert idx.tolist() == [0, 0, 1, 1] and edges.tolist() == [0.0, 5.0, 10.0]
    assert time_slices(np.array([3.0, 3.0]), 3.0, 4)[0].tolist() == [0, 0]


def test_rank_metrics_known_values() -> None:
    m = rank_metrics(np.array([1, 0, 2, 0]), 10)
    assert m == pytest.approx(
        {"hit@10": 0.5, "ndcg@10": (1 + 1 / np.log2(3)) / 4, "mrr@10": 0.375, "events": 4}
    )
    assert rank_metrics(np.array([], dtype=np.int64), 5)["hit@5"] == 0.0


def test_breakdown_compares_methods_on_the_same_events() -> None:
    report = ReplayReport(
        dataset="x", k=10, train_fraction=0.8, max_users=None, seed=0, cut=0.0,
        runs=[
            MethodRun("realtime-on", np.array([1, 0, 3, 0])),
            MethodRun("trending", np.array([0, 2, 0, 0])),
        ],
        history=np.array([0, 1, 15, 15]), new_item=np.array([True, False, False, False]),
        times=np.array([1.0, 1.5, 3.0, 4.0]), n_slices=2,
    )  # fmt: skip
    b = report.breakdown()
    assert b["history"]["0"]["events"] == 1 and b["history"]["3-9"]["events"] == 0
    assert b["history"]["10+"]["realtime-on"]["hit@10"] == 0.5
    assert b["history"]["1-2"]["trending"]["mrr@10"] == 0.5
    assert b["item_age"]["new since the cut"]["realtime-on"]["hit@10"] == 1.0
    assert b["item_age"]["seen before the cut"]["trending"]["hit@10"] == pytest.approx(1 / 3)
    curve = report.prequential()
    assert curve["events"] == [2, 2] and curve["hit@10"]["realtime-on"] == [0.5, 0.5]
    assert report.ratios()["on/trending"]["hit@10"] == 2.0


class StubEngine:
    """Lists unseen items in catalog order, starting after the user's latest item.

    Frozen, the latest item stays the one held at the freeze.
    """

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.latest: dict[str, str] = {}
        self.seen: dict[str, set[str]] = {}
        self.frozen = False

    def upsert_items(self, items: Sequence[Item]) -> None:
        self.ids = [it.item_id for it in items]

    def bootstrap(self, events: Sequence[Event]) -> None:
        for e in events:
            self.ingest(e)

    def train(self) -> None:
        pass

    def freeze(self) -> None:
        self.frozen = True

    def ingest(self, event: Event) -> None:
        if event.item_id is None or event.type == "impression":
            return
        self.seen.setdefault(event.user_id, set()).add(event.item_id)
        if not self.frozen:
            self.latest[event.user_id] = event.item_id

    def recommend(self, user_id: str, k: int) -> Recommendation:
        start = self.ids.index(self.latest[user_id]) + 1 if user_id in self.latest else 0
        order = self.ids[start:] + self.ids[:start]
        seen = self.seen.get(user_id, set())
        picked = [i for i in order if i not in seen][:k]
        return Recommendation(user_id, tuple(Scored(i, 1.0, "") for i in picked), "stub")


def test_replay_methods_report_every_method_on_the_same_events(tmp_path: Path) -> None:
    report = replay_methods(tiny(), StubEngine, train_fraction=0.5, k=2, reflect_sample=3)
    runs = {r.name: r.ranks.tolist() for r in report.runs}
    # on: u1's latest is a (t5) -> [c, d]: d 2nd; u2 latest a -> [b, c]: b 1st; u4 -> [a, b]
    assert runs["realtime-on"] == [2, 1, 0]
    # off: u1's latest stays b -> [c, d] as well; the same for u2 and u4 here
    assert runs["realtime-off"] == [2, 1, 0]
    assert list(runs) == [
        "realtime-on", "realtime-off", "popularity", "trending", "trending-1h", "trending-10m",
        "session-knn",
    ]  # fmt: skip
    data = report.to_dict()
    # on over the best of the three live-trending lists, per metric
    best = max(np.mean([0 < r <= 2 for r in runs[m]]) for m in runs if m.startswith("trending"))
    assert data["ratios"]["on/best-trending"]["hit@2"] == pytest.approx((2 / 3) / best)
    assert data["scored_events"] == 3 and data["users"] == 3
    assert data["results"][0]["metrics"]["hit@2"] == pytest.approx(2 / 3)
    reflect = data["reflect"]["realtime-on"]
    assert reflect["events"] == 3 and reflect["median_ms"] >= 0
    assert json.loads(json.dumps(data)) == data  # JSON-ready as it is
    text = markdown_tables(data)
    assert "| real-time on | **0.6667** |" in text and "on/realtime-off" in text
    assert len(rich_tables(data)) == 4
    png = report.plot(tmp_path / "curve.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_replay_keeps_its_engine_and_popularity_pair() -> None:
    ours, pop = replay(tiny(), StubEngine, train_fraction=0.5, k=10)
    assert ours.ranks == [2, 1, 4] and pop.ranks == [2, 1, 4]
    assert pop.metrics()["events"] == 3.0
