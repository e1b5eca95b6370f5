"""Impression ranking: metrics with hand-computed answers, the replay loop, the baselines."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pulserec.evaluation import replay as replay_module
from pulserec.evaluation.impressions import (
    ClickThrough,
    Combination,
    CountScorer,
    DecayedClicks,
    Freshness,
    TextProfile,
    fit_combination,
    fit_logistic,
    impression_metrics,
    mean_metrics,
    outcome_events,
    prime,
    replay_impressions,
    run_impressions,
    split_impressions,
    standardise,
)
from pulserec.events import load_mind, load_mind_impressions
from pulserec.events.datasets.mind import Impression
from pulserec.types import Event

H = 3600.0


def imp(t: float, cands: list[str], labels: list[int], user: str = "u", hist: tuple[str, ...] = ()
        ) -> Impression:  # fmt: skip
    return Impression(f"i{t}", user, t, list(hist), cands, np.array(labels, dtype=np.int8))


# ------------------------------------------------------------------------------- metrics


def test_metrics_of_a_perfect_ranking() -> None:
    m = impression_metrics(np.array([0.9, 0.1, 0.5]), np.array([1, 0, 0]))
    assert m == {"auc": 1.0, "mrr": 1.0, "ndcg@5": 1.0, "ndcg@10": 1.0}


def test_metrics_match_hand_computed_values() -> None:
    # ranked 0.9(-) 0.5(+) 0.3(-) 0.1(+): of the four (pos, neg) pairs only 0.5 > 0.3 wins
    m = impression_metrics(np.array([0.1, 0.9, 0.5, 0.3]), np.array([1, 0, 1, 0]))
    assert m is not None
    assert m["auc"] == pytest.approx(0.25)
    assert m["mrr"] == pytest.approx((1 / 4 + 1 / 2) / 2)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    assert m["ndcg@5"] == pytest.approx(dcg / (1 + 1 / math.log2(3)))
    assert m["ndcg@10"] == m["ndcg@5"]


def test_ties_share_their_rank_and_unknown_items_rank_last() -> None:
    m = impression_metrics(np.zeros(4), np.array([0, 1, 0, 0]))
    assert m is not None
    assert m["auc"] == 0.5
    assert m["mrr"] == pytest.approx(1 / 2.5)
    m = impression_metrics(np.array([-np.inf, 1.0]), np.array([1, 0]))
    assert m is not None and m["auc"] == 0.0


def test_impressions_without_both_labels_have_no_metrics() -> None:
    assert impression_metrics(np.array([1.0, 2.0]), np.array([1, 1])) is None
    assert impression_metrics(np.array([1.0, 2.0]), np.array([0, 0])) is None


def test_replay_module_still_exports_the_impression_functions() -> None:
    assert replay_module.impression_metrics is impression_metrics
    assert replay_module.replay_impressions is replay_impressions


def test_mean_metrics_with_standard_error() -> None:
    rows = [{"auc": 1.0, "mrr": 1.0, "ndcg@5": 1.0, "ndcg@10": 1.0},
            {"auc": 0.0, "mrr": 0.5, "ndcg@5": 0.5, "ndcg@10": 0.5}]  # fmt: skip
    m = mean_metrics(rows)
    assert m["auc"] == 0.5 and m["mrr"] == 0.75 and m["impressions"] == 2.0
    assert m["auc_se"] == pytest.approx(math.sqrt(0.5) / math.sqrt(2))
    assert mean_metrics([])["impressions"] == 0.0


# ------------------------------------------------------------------- split and replay loop


def write_mind(folder: Path) -> Path:
    """Four impressions of three users an hour apart; n1 in u1's history."""
    behaviors = [
        ("1", "u1", "11/09/2019 8:00:00 AM", "n1", "n1-0 n2-1 n3-0"),
        ("2", "u2", "11/09/2019 9:00:00 AM", "", "n2-1 n3-0"),
        ("3", "u3", "11/09/2019 10:00:00 AM", "", "n3-0 n4-1 n2-0"),
        ("4", "u1", "11/09/2019 11:00:00 AM", "n1", "n2-0 n4-1 n1-0"),
    ]
    (folder / "behaviors.tsv").write_text("".join("\t".join(r) + "\n" for r in behaviors))
    news = "n1\tnews\tus\tOld story\t\thttp://a\t[]\t[]\n"
    (folder / "news.tsv").write_text(news)
    return folder


def test_split_keeps_histories_and_cuts_impressions_in_time(tmp_path: Path) -> None:
    folder = write_mind(tmp_path)
    ds = load_mind(folder, verbose=False)
    split = split_impressions(ds, load_mind_impressions(folder), train_fraction=0.5)
    assert [i.impression_id for i in split.train] == ["1", "2"]
    assert [i.impression_id for i in split.test] == ["3", "4"]
    assert split.scored == frozenset({0, 1})
    train = split.train_events
    # u1's history click is training data although u1 is also a test user
    assert set(train.loc[train["event_id"].isna(), "item_id"]) == {"n1"}
    assert (train.loc[train["event_id"].notna(), "timestamp"] < split.cut).all()
    sampled = split_impressions(ds, load_mind_impressions(folder), train_fraction=0.5,
                                max_impressions=1)  # fmt: skip
    assert len(sampled.scored) == 1
    with pytest.raises(ValueError, match="train_fraction"):
        split_impressions(ds, load_mind_impressions(folder), train_fraction=1.0)


def test_run_impressions_scores_before_it_observes(tmp_path: Path) -> None:
    folder = write_mind(tmp_path)
    ds = load_mind(folder, verbose=False)
    impressions = load_mind_impressions(folder)
    split = split_impressions(ds, impressions, train_fraction=0.5)
    ctr = ClickThrough(prior_clicks=0.0, prior_shows=0.5)
    prime([ctr], split.train)  # n2 clicked 2 of 2 shows, n3 0 of 2, n1 0 of 1
    rows = run_impressions(split, {"ctr": ctr, "flat": CountScorer({})})
    # impression 3 [n3, n4, n2] scored (0, 0, 0.8): n4 (clicked) ties n3 below n2 -> AUC 1/4
    # impression 4 [n2, n4, n1]: 2/3.5, 1/1.5 (n4 clicked in impression 3), 0 -> n4 first
    assert [r["auc"] for r in rows["ctr"]] == [pytest.approx(0.25), 1.0]
    assert [r["auc"] for r in rows["flat"]] == [0.5, 0.5]


class FakeEngine:
    """Records what the replay asks of an engine; scores by clicks ingested so far."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.clicks: dict[str, int] = {}

    def upsert_items(self, items: list[Any]) -> None:
        self.calls.append(f"upsert {len(items)}")

    def bootstrap(self, events: list[Event]) -> None:
        self.calls.append(f"bootstrap {len(events)}")

    def train(self) -> None:
        self.calls.append("train")

    def freeze(self) -> None:
        self.calls.append("freeze")

    def score_items(self, user_id: str, item_ids: list[str]) -> np.ndarray:
        self.calls.append(f"score {user_id}")
        return np.array([self.clicks.get(i, 0) for i in item_ids], dtype=float)

    def ingest_many(self, events: list[Event]) -> None:
        self.calls.append(f"ingest {len(events)}")
        for e in events:
            if e.type == "click" and e.item_id is not None:
                self.clicks[e.item_id] = self.clicks.get(e.item_id, 0) + 1


@pytest.mark.parametrize("realtime", [True, False])
def test_replay_impressions_drives_the_engine_in_order(tmp_path: Path, realtime: bool) -> None:
    folder = write_mind(tmp_path)
    ds = load_mind(folder, verbose=False)
    engine = FakeEngine()
    ours, pop = replay_impressions(ds, load_mind_impressions(folder), lambda: engine,
                                   train_fraction=0.5, realtime=realtime)  # fmt: skip
    # 4 items (n1 with text, n2-n4 bare); 1 history click + 5 labelled events before the cut
    expected = ["upsert 4", "bootstrap 6", "train"] + (["freeze"] if not realtime else [])
    assert engine.calls == [*expected, "score u3", "ingest 3", "score u1", "ingest 3"]
    assert ours["impressions"] == pop["impressions"] == 2.0
    assert ours["auc"] == pytest.approx((0.5 + 1.0) / 2)  # n4's click in 3 counts in 4
    # popularity: training clicks n1 1 (history), n2 2 -> [n3 0, n4 0, n2 2] and [n2, n4, n1]
    assert pop["auc"] == pytest.approx((0.25 + 0.0) / 2)


def test_outcome_events_skip_unlabelled_candidates() -> None:
    events = outcome_events(imp(5.0, ["a", "b", "c"], [1, 0, -1]))
    assert [(e.item_id, e.type, e.timestamp) for e in events] == [
        ("a", "click", 5.0), ("b", "impression", 5.0)]  # fmt: skip


# ---------------------------------------------------------------------- baseline signals


def test_freshness_is_minus_log_hours_since_first_seen() -> None:
    fresh = Freshness(["old"], history_time=0.0)
    assert fresh.score(imp(H, ["new", "old"], [1, 0])) == pytest.approx([0.0, -math.log(2)])
    fresh.observe(imp(H, ["new", "old"], [1, 0]))
    later = imp(4 * H, ["new", "newer"], [0, 1])
    assert fresh.score(later) == pytest.approx([-math.log(4), 0.0])


def test_click_through_counts_shows_and_clicks_with_a_prior() -> None:
    ctr = ClickThrough(prior_clicks=0.4, prior_shows=10.0)
    ctr.observe(imp(0.0, ["x", "y", "z"], [1, 0, -1]))
    assert ctr.score(imp(1.0, ["x", "y", "z"], [0, 0, 1])) == pytest.approx(
        [1.4 / 11, 0.4 / 11, 0.4 / 10])  # fmt: skip
    with pytest.raises(ValueError, match="prior_shows"):
        ClickThrough(prior_shows=0.0)


def test_click_through_with_a_half_life_follows_recent_shows() -> None:
    ctr = ClickThrough(prior_clicks=0.0, prior_shows=1.0, half_life_s=H)
    ctr.observe(imp(0.0, ["x"], [1]))  # one click in one show, then two unclicked shows
    ctr.observe(imp(H, ["x"], [0]))
    ctr.observe(imp(H, ["x"], [0]))
    # clicks 0.5, shows 0.5 + 2 = 2.5 an hour later
    assert ctr.score(imp(H, ["x"], [0])) == pytest.approx([0.5 / 3.5])
    assert ctr.score(imp(2 * H, ["x"], [0])) == pytest.approx([0.25 / (1.25 + 1)])


def test_decayed_clicks_halve_every_half_life() -> None:
    pop = DecayedClicks(half_life_s=H)
    pop.observe(imp(0.0, ["x", "y"], [1, 0]))
    pop.observe(imp(0.0, ["x", "y"], [1, 0]))
    assert pop.score(imp(H, ["x", "y"], [0, 1])) == pytest.approx([math.log(2), 0.0])
    pop.observe(imp(2 * H, ["x"], [1]))  # 2 clicks two half-lives old, then one more
    assert pop.score(imp(2 * H, ["x"], [1])) == pytest.approx([math.log1p(1.5)])


def test_text_profile_weights_recent_clicks_and_fills_missing_text() -> None:
    vectors = {"e1": np.array([1.0, 0.0]), "e2": np.array([0.0, 1.0])}
    text = TextProfile(vectors, {"u": ["e2", "e1"]}, half_life_clicks=1.0)  # e1 latest
    n = math.sqrt(1.25)  # profile [1, 0.5] normalised
    first = imp(0.0, ["e1", "e2", "none"], [1, 0, 0])
    assert text.score(first) == pytest.approx([1 / n, 0.5 / n, 0.75 / n])
    text.observe(imp(0.0, ["e2", "e1"], [1, 0]))  # e2 clicked: now the latest
    second = text.score(imp(1.0, ["e1", "e2"], [0, 1]))
    assert second[1] > second[0]
    assert text.score(imp(1.0, ["e1", "e2"], [0, 1], user="stranger")).tolist() == [0.0, 0.0]


def test_standardise_over_the_impression() -> None:
    assert standardise(np.array([1.0, 2.0, 3.0])) == pytest.approx([-1.2247449, 0.0, 1.2247449])
    assert standardise(np.array([2.0, 2.0])).tolist() == [0.0, 0.0]


def synthetic_stream(n: int, t0: float, seed: int) -> list[Impression]:
    """Each impression: two never-seen items (one clicked) and three items seen for days."""
    rng = np.random.default_rng(seed)
    out = []
    for j in range(n):
        fresh = [f"f{t0}-{j}-{k}" for k in range(2)]
        old = [f"old{k}" for k in rng.choice(20, 3, replace=False)]
        labels = [1, 0, 0, 0, 0]
        out.append(imp(t0 + j * 60.0, fresh + old, labels, user=f"u{j}"))
    return out


def test_fit_combination_weights_the_signal_that_predicts_clicks() -> None:
    parts = {"fresh": Freshness([f"old{k}" for k in range(20)], history_time=0.0),
             "pop": DecayedClicks()}  # fmt: skip
    combo = fit_combination(parts, synthetic_stream(200, 10 * 24 * H, seed=1))
    assert combo.weights["fresh"] > 1.0
    test = synthetic_stream(20, 11 * 24 * H, seed=2)
    for i in test:  # the clicked item is fresh; the other fresh one ties it on freshness
        m = impression_metrics(combo.score(i), np.asarray(i.labels))
        assert m is not None and m["auc"] >= 0.875
    with pytest.raises(ValueError, match="weights"):
        Combination(parts, {"fresh": 1.0})
    with pytest.raises(ValueError, match="none has both"):
        fit_combination(parts, [imp(0.0, ["a"], [1])])


def test_fit_logistic_weights_a_separating_feature_and_ignores_noise() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 4000).astype(float)
    # two unit-variance Gaussians at -1 and +1: the true log-odds slope is 2
    x = np.column_stack([2 * y - 1 + rng.normal(0, 1, 4000), rng.normal(0, 1, 4000)])
    w = fit_logistic(x, y)
    assert w[0] == pytest.approx(2.0, abs=0.2) and abs(w[1]) < 0.15
    with pytest.raises(ValueError, match="both positive and negative"):
        fit_logistic(x, np.ones(4000))
