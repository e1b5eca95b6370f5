"""Impression ranking (MIND's protocol): metrics, the replay loop and its baseline scorers.

An impression is what one user was shown at one time and which of it they clicked. Each
test impression's candidates are scored, the per-impression AUC, MRR, nDCG@5 and nDCG@10
are taken, then the impression's outcome is observed, in time order. Every scorer sees
exactly what was known before the impression it scores.

Besides the engine and a static click-popularity baseline, the module holds simple online
item- and user-side scorers (freshness, click-through rate, decayed popularity, text
profile) and their per-impression standardised linear combination. They measure what
each signal is worth on the same impressions, so the engine's figures have a yardstick.

Examples
--------
>>> import numpy as np
>>> impression_metrics(np.array([0.9, 0.1, 0.5]), np.array([1, 0, 0]))["auc"]
1.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from pulserec.config import DEFAULT_SEED
from pulserec.events.base import Dataset
from pulserec.events.datasets.mind import Impression
from pulserec.types import Event

METRICS: tuple[str, ...] = ("auc", "mrr", "ndcg@5", "ndcg@10")
"""Per-impression metrics, in report order."""


def impression_metrics(scores: np.ndarray, labels: np.ndarray) -> dict[str, float] | None:
    """MIND's per-impression AUC, MRR, nDCG@5 and nDCG@10 (None without both labels).

    Ties in ``scores`` share their average rank, so a constant scorer gets AUC 0.5.
    """
    from scipy.stats import rankdata

    labels = np.asarray(labels, dtype=np.float64)
    n_pos = labels.sum()
    if n_pos == 0 or n_pos == len(labels):
        return None
    s = np.nan_to_num(np.asarray(scores, dtype=np.float64), neginf=-1e300)
    asc = rankdata(s)  # 1 = lowest score
    auc = (asc[labels == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * (len(labels) - n_pos))
    desc = rankdata(-s)  # 1 = highest score, ties averaged
    mrr = float((labels / desc).sum() / n_pos)
    out = {"auc": float(auc), "mrr": mrr}
    order = np.argsort(-s, kind="stable")
    for k in (5, 10):
        gains = labels[order][:k]
        dcg = (gains / np.log2(np.arange(2, len(gains) + 2))).sum()
        ideal = np.sort(labels)[::-1][:k]
        idcg = (ideal / np.log2(np.arange(2, len(ideal) + 2))).sum()
        out[f"ndcg@{k}"] = float(dcg / idcg)
    return out


def mean_metrics(rows: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Mean of per-impression metrics, their count, and the standard error of the AUC."""
    out = {k: float(np.mean([r[k] for r in rows])) if rows else 0.0 for k in METRICS}
    out["impressions"] = float(len(rows))
    auc = np.array([r["auc"] for r in rows])
    out["auc_se"] = float(auc.std(ddof=1) / math.sqrt(len(auc))) if len(auc) > 1 else 0.0
    return out


@dataclass(frozen=True)
class ImpressionSplit:
    """Impressions cut in time: training events and impressions, then the test stream.

    Attributes
    ----------
    cut : float
        Impressions at or after this timestamp are test impressions.
    train_events : DataFrame
        Every user's click history (known before their first impression) and every event
        before the cut.
    train : list of Impression
        Impressions before the cut, in time order.
    test : list of Impression
        Impressions at or after the cut, in time order; all are observed in turn.
    scored : frozenset of int
        Positions in ``test`` whose candidates are scored (all, or a seeded sample).
    """

    cut: float
    train_events: pd.DataFrame
    train: list[Impression]
    test: list[Impression]
    scored: frozenset[int]


def split_impressions(
    dataset: Dataset,
    impressions: Sequence[Impression],
    *,
    train_fraction: float = 0.8,
    max_impressions: int | None = None,
    seed: int = DEFAULT_SEED,
) -> ImpressionSplit:
    """Cut impressions at the ``train_fraction`` quantile of their times."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction: expected a value in (0, 1), got {train_fraction}")
    if not impressions:
        raise ValueError("impressions: expected at least one impression, got none")
    imp_times = np.array([imp.timestamp for imp in impressions], dtype=np.float64)
    cut = float(np.quantile(imp_times, train_fraction))
    events = dataset.events
    is_history = events["event_id"].isna() & (events["type"] == "click")
    ordered = sorted(impressions, key=lambda i: i.timestamp)
    train = [imp for imp in ordered if imp.timestamp < cut]
    test = [imp for imp in ordered if imp.timestamp >= cut]
    scored = range(len(test))
    if max_impressions is not None and len(test) > max_impressions:
        rng = np.random.default_rng(seed)
        scored = rng.choice(len(test), max_impressions, replace=False).tolist()
    return ImpressionSplit(
        cut, events[is_history | (events["timestamp"] < cut)], train, test, frozenset(scored)
    )


class ImpressionScorer(Protocol):
    """Scores an impression's candidates from what it has observed so far."""

    def score(self, impression: Impression) -> np.ndarray:
        """One score per candidate, higher is more likely clicked."""
        ...

    def observe(self, impression: Impression) -> None:
        """Learn the impression's outcome (called after it was scored)."""
        ...


def run_impressions(
    split: ImpressionSplit, scorers: Mapping[str, ImpressionScorer]
) -> dict[str, list[dict[str, float]]]:
    """Replay the test impressions: score the sampled ones with every scorer, observe all.

    Returns each scorer's per-impression metrics (impressions with only clicks or only
    non-clicks are left out, for every scorer alike); :func:`mean_metrics` averages them.
    """
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in scorers}
    for j, imp in enumerate(split.test):
        if j in split.scored:
            labels = np.asarray(imp.labels)
            for name, scorer in scorers.items():
                m = impression_metrics(scorer.score(imp), labels)
                if m is None:
                    break  # depends on the labels only: the same for every scorer
                rows[name].append(m)
        for scorer in scorers.values():
            scorer.observe(imp)
    return rows


def outcome_events(impression: Impression) -> list[Event]:
    """A click per clicked candidate and an impression per other labelled one."""
    return [
        Event(impression.user_id, c, "click" if lab == 1 else "impression", impression.timestamp)
        for c, lab in labelled(impression)
    ]


def labelled(impression: Impression) -> list[tuple[str, int]]:
    """(candidate, label) of the impression's labelled candidates (1 clicked, 0 not)."""
    labels = np.asarray(impression.labels).tolist()
    return [(c, lab) for c, lab in zip(impression.candidates, labels, strict=True) if lab >= 0]


class EngineScorer:
    """The engine's hybrid scores; the outcome is ingested as click and impression events."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def score(self, impression: Impression) -> np.ndarray:
        return np.asarray(self.engine.score_items(impression.user_id, list(impression.candidates)))

    def observe(self, impression: Impression) -> None:
        self.engine.ingest_many(outcome_events(impression))


class CountScorer:
    """A fixed count per item (click popularity before the cut); learns nothing."""

    def __init__(self, counts: Mapping[str, float]) -> None:
        self.counts = counts

    def score(self, impression: Impression) -> np.ndarray:
        return np.array([self.counts.get(c, 0.0) for c in impression.candidates], dtype=float)

    def observe(self, impression: Impression) -> None:
        return None


def replay_impressions(
    dataset: Dataset,
    impressions: list[Any],
    make_engine: Callable[[], Any],
    *,
    train_fraction: float = 0.8,
    realtime: bool = True,
    max_impressions: int | None = None,
    seed: int = DEFAULT_SEED,
) -> tuple[dict[str, float], dict[str, float]]:
    """MIND protocol: score each test impression's candidates, then ingest its outcome.

    Every user's click history (known before their first impression) is
    training data; impressions after the time cut are replayed in order.
    Returns mean metrics (:func:`mean_metrics`) of the engine and of a
    click-popularity baseline (training clicks per item).
    """
    from pulserec.catalog.catalog import Catalog
    from pulserec.evaluation.replay import to_events
    from pulserec.types import Item

    split = split_impressions(
        dataset, impressions, train_fraction=train_fraction,
        max_impressions=max_impressions, seed=seed,
    )  # fmt: skip
    engine = make_engine()
    items = list(Catalog.from_frame(dataset.items))
    known = {it.item_id for it in items}
    bare = sorted({c for imp in impressions for c in imp.candidates} - known)
    engine.upsert_items(items + [Item(i) for i in bare])
    engine.bootstrap(list(to_events(split.train_events)))
    engine.train()
    if not realtime:
        engine.freeze()
    train = split.train_events
    clicks = train.loc[train["type"] == "click", "item_id"].astype(str).value_counts()
    counts = {str(i): float(n) for i, n in clicks.items()}
    rows = run_impressions(
        split, {"engine": EngineScorer(engine), "popularity": CountScorer(counts)}
    )
    return mean_metrics(rows["engine"]), mean_metrics(rows["popularity"])


# ----------------------------------------------------------------- online baseline signals


def prime(scorers: Iterable[ImpressionScorer], impressions: Iterable[Impression]) -> None:
    """Let offline scorers observe the training impressions, in order, before the test."""
    scorers = list(scorers)
    for imp in impressions:
        for scorer in scorers:
            scorer.observe(imp)


class Freshness:
    """Newer is better: minus log hours since the candidate was first seen.

    An item is first seen in an impression (as a candidate) or, for items in any user's
    click history, at ``history_time`` (histories are clicks before the impression log
    starts). A candidate never seen before scores as brand new.
    """

    def __init__(self, history_items: Iterable[str], history_time: float) -> None:
        self.first_seen: dict[str, float] = dict.fromkeys(history_items, history_time)

    def score(self, impression: Impression) -> np.ndarray:
        now = impression.timestamp
        age = np.array([now - self.first_seen.get(c, now) for c in impression.candidates])
        return np.asarray(-np.log1p(np.maximum(age, 0.0) / 3600.0))

    def observe(self, impression: Impression) -> None:
        for c in impression.candidates:
            self.first_seen.setdefault(c, impression.timestamp)


class ClickThrough:
    """Live click-through rate ``(clicks + a) / (shows + b)`` of each candidate so far.

    The prior ``a / b`` is the base rate a never-shown item starts from; ``b`` is how many
    shows it takes for the item's own record to outweigh it. With ``half_life_s`` both
    counts decay, so the rate follows an item's recent shows.
    """

    def __init__(
        self,
        prior_clicks: float = 0.4,
        prior_shows: float = 10.0,
        half_life_s: float | None = None,
    ) -> None:
        if prior_shows <= 0 or prior_clicks < 0:
            raise ValueError(
                f"prior_clicks, prior_shows: expected >= 0 and > 0, "
                f"got {prior_clicks} and {prior_shows}"
            )
        if half_life_s is not None and half_life_s <= 0:
            raise ValueError(f"half_life_s: expected > 0 or None, got {half_life_s}")
        self.a, self.b, self.half_life_s = prior_clicks, prior_shows, half_life_s
        self.counts: dict[str, tuple[float, float, float]] = {}  # item -> clicks, shows, as of

    def _at(self, item: str, now: float) -> tuple[float, float]:
        clicks, shows, t = self.counts.get(item, (0.0, 0.0, now))
        if self.half_life_s is None:
            return clicks, shows
        f = 2.0 ** (-max(now - t, 0.0) / self.half_life_s)
        return clicks * f, shows * f

    def score(self, impression: Impression) -> np.ndarray:
        now = impression.timestamp
        cn = np.array([self._at(i, now) for i in impression.candidates]).reshape(-1, 2)
        return np.asarray((cn[:, 0] + self.a) / (cn[:, 1] + self.b))

    def observe(self, impression: Impression) -> None:
        now = impression.timestamp
        for item, lab in labelled(impression):
            clicks, shows = self._at(item, now)
            self.counts[item] = (clicks + float(lab), shows + 1.0, now)


class DecayedClicks:
    """Live popularity: clicks in impressions, each decaying with ``half_life_s``; log1p."""

    def __init__(self, half_life_s: float = 6 * 3600.0) -> None:
        if half_life_s <= 0:
            raise ValueError(f"half_life_s: expected > 0, got {half_life_s}")
        self.half_life_s = half_life_s
        self.mass: dict[str, tuple[float, float]] = {}  # item -> (decayed clicks, as of time)

    def _at(self, item: str, now: float) -> float:
        value, t = self.mass.get(item, (0.0, now))
        return float(value * 2.0 ** (-max(now - t, 0.0) / self.half_life_s))

    def score(self, impression: Impression) -> np.ndarray:
        now = impression.timestamp
        return np.asarray(np.log1p([self._at(c, now) for c in impression.candidates]))

    def observe(self, impression: Impression) -> None:
        now = impression.timestamp
        for item, lab in labelled(impression):
            if lab == 1:
                self.mass[item] = (self._at(item, now) + 1.0, now)


class TextProfile:
    """Cosine of each candidate's text vector with the user's recency-weighted click profile.

    The profile is the weighted mean of the unit text vectors of the user's clicks (their
    history, then clicks in observed impressions), the ``p``-th latest weighted
    ``2 ** (-p / half_life_clicks)``. Candidates without text, and all candidates of a user
    with no clicked text, get the impression's mean of the known scores (0 when none): a
    neutral value, so that having text is not itself a signal.
    """

    def __init__(
        self,
        vectors: Mapping[str, np.ndarray],
        histories: Mapping[str, Sequence[str]],
        half_life_clicks: float = 10.0,
    ) -> None:
        if half_life_clicks <= 0:
            raise ValueError(f"half_life_clicks: expected > 0, got {half_life_clicks}")
        self.vectors = vectors
        self.clicks: dict[str, list[str]] = {u: list(h) for u, h in histories.items()}
        self.half_life_clicks = half_life_clicks

    def profile(self, user_id: str) -> np.ndarray | None:
        """The user's unit profile vector, or None without any clicked text."""
        clicked = [c for c in self.clicks.get(user_id, ()) if c in self.vectors]
        if not clicked:
            return None
        w = 2.0 ** (-np.arange(len(clicked))[::-1] / self.half_life_clicks)
        v = w @ np.stack([self.vectors[c] for c in clicked])
        norm = float(np.linalg.norm(v))
        return v / norm if norm > 0 else None

    def score(self, impression: Impression) -> np.ndarray:
        out = np.full(len(impression.candidates), np.nan)
        prof = self.profile(impression.user_id)
        if prof is not None:
            for j, c in enumerate(impression.candidates):
                if c in self.vectors:
                    out[j] = float(self.vectors[c] @ prof)
        known = ~np.isnan(out)
        out[~known] = out[known].mean() if known.any() else 0.0
        return out

    def observe(self, impression: Impression) -> None:
        for item, lab in labelled(impression):
            if lab == 1:
                self.clicks.setdefault(impression.user_id, []).append(item)


def standardise(scores: np.ndarray) -> np.ndarray:
    """Scores minus their mean over the impression, over their standard deviation (0 if flat)."""
    s = np.asarray(scores, dtype=np.float64)
    sd = s.std()
    return (s - s.mean()) / sd if sd > 0 else np.zeros_like(s)


class Combination:
    """A weighted sum of scorers' per-impression standardised scores.

    The parts observe every impression through this object only: give it scorers that
    nothing else observes.
    """

    def __init__(self, parts: Mapping[str, ImpressionScorer], weights: Mapping[str, float]):
        missing = set(parts) - set(weights)
        if missing:
            raise ValueError(f"weights: no weight for {sorted(missing)}")
        self.parts = dict(parts)
        self.weights = dict(weights)

    def features(self, impression: Impression) -> np.ndarray:
        """The candidates x parts matrix of standardised scores, in ``parts`` order."""
        return np.column_stack([standardise(p.score(impression)) for p in self.parts.values()])

    def score(self, impression: Impression) -> np.ndarray:
        w = np.array([self.weights[name] for name in self.parts])
        return np.asarray(self.features(impression) @ w)

    def observe(self, impression: Impression) -> None:
        for part in self.parts.values():
            part.observe(impression)


def impression_features(
    parts: Mapping[str, ImpressionScorer], impressions: Iterable[Impression]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Score each impression with every part, then let every part observe it.

    Returns, per impression with both a click and a non-click, the labelled candidates'
    standardised scores (candidates x parts, in ``parts`` order) and their labels: the
    features an online scorer would have had.
    """
    combo = Combination(parts, dict.fromkeys(parts, 0.0))
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for imp in impressions:
        labels = np.asarray(imp.labels)
        keep = labels >= 0
        if 0 < labels[keep].sum() < keep.sum():
            out.append((combo.features(imp)[keep], labels[keep].astype(np.float64)))
        combo.observe(imp)
    return out


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0) -> np.ndarray:
    """Weights of an L2-penalised logistic regression of ``y`` on ``x`` (intercept dropped)."""
    from scipy.optimize import minimize

    if len(y) == 0 or not 0 < y.sum() < len(y):
        raise ValueError("y: expected both positive and negative labels to fit on")
    xi = np.column_stack([x, np.ones(len(y))])

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = xi @ w
        p = 1.0 / (1.0 + np.exp(-z))
        nll = float(np.sum(np.logaddexp(0.0, z) - y * z)) + 0.5 * l2 * float(w[:-1] @ w[:-1])
        grad = xi.T @ (p - y)
        grad[:-1] += l2 * w[:-1]
        return nll, grad

    return np.asarray(minimize(loss, np.zeros(xi.shape[1]), jac=True, method="L-BFGS-B").x[:-1])


def fit_combination(
    parts: Mapping[str, ImpressionScorer], impressions: Iterable[Impression], l2: float = 1.0
) -> Combination:
    """Fit a :class:`Combination`'s weights by logistic regression over ``impressions``.

    The features are :func:`impression_features` (the parts observe every impression as
    it goes); the fit is :func:`fit_logistic`, whose intercept drops out of the ranking.
    """
    rows = impression_features(parts, impressions)
    if not rows:
        raise ValueError("impressions: none has both a click and a non-click to fit on")
    w = fit_logistic(np.vstack([x for x, _ in rows]), np.concatenate([y for _, y in rows]), l2)
    return Combination(parts, {name: float(v) for name, v in zip(parts, w, strict=True)})
