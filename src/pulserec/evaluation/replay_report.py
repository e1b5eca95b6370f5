"""What a streaming replay reports: metrics per method, breakdowns, curves, reflect time.

Every method's ranks are aligned with the same scored events, so any slice of
those events (a history-length bucket, an item-age group, a time slice)
compares the methods on exactly the same events.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pulserec.evaluation.baselines import BaselineSettings

HISTORY_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0", 0, 0),
    ("1-2", 1, 2),
    ("3-9", 3, 9),
    ("10+", 10, None),
)
"""Buckets of the user's positive events before the scored one: (label, low, high or None)."""

ENGINE_RUNS: tuple[str, ...] = ("realtime-on", "realtime-off")
"""Names of the engine's runs; every other run is a baseline."""


def rank_metrics(ranks: np.ndarray, k: int) -> dict[str, float]:
    """HitRate, NDCG and MRR at ``k`` of 1-based ranks (0: a miss), and the event count.

    Examples
    --------
    >>> rank_metrics(np.array([1, 0, 2, 0]), 10)["mrr@10"]
    0.375
    """
    r = np.asarray(ranks, dtype=np.float64)
    if len(r) == 0:
        return {f"hit@{k}": 0.0, f"ndcg@{k}": 0.0, f"mrr@{k}": 0.0, "events": 0.0}
    hit = r > 0
    safe = np.where(hit, r, 1.0)
    return {
        f"hit@{k}": float(hit.mean()),
        f"ndcg@{k}": float(np.where(hit, 1.0 / np.log2(safe + 1.0), 0.0).mean()),
        f"mrr@{k}": float(np.where(hit, 1.0 / safe, 0.0).mean()),
        "events": float(len(r)),
    }


def history_bucket(n_before: np.ndarray) -> np.ndarray:
    """The :data:`HISTORY_BUCKETS` label of each count of earlier events.

    Examples
    --------
    >>> history_bucket(np.array([0, 1, 2, 3, 9, 10, 500])).tolist()
    ['0', '1-2', '1-2', '3-9', '3-9', '10+', '10+']
    """
    n = np.asarray(n_before)
    out = np.empty(len(n), dtype=object)
    for label, low, high in HISTORY_BUCKETS:
        out[(n >= low) & (n <= (high if high is not None else np.iinfo(np.int64).max))] = label
    return out


def time_slices(times: np.ndarray, start: float, n_slices: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal-width slices of ``[start, last time]``: (slice of each time, the edges)."""
    if n_slices < 1:
        raise ValueError(f"n_slices: expected an integer >= 1, got {n_slices}")
    times = np.asarray(times, dtype=np.float64)
    end = float(times.max()) if len(times) else start
    edges = np.linspace(start, max(end, start), n_slices + 1)
    width = (edges[-1] - edges[0]) / n_slices
    if width <= 0:
        return np.zeros(len(times), dtype=np.int64), edges
    idx = np.floor((times - start) / width).astype(np.int64)
    return np.clip(idx, 0, n_slices - 1), edges


@dataclass
class MethodRun:
    """One method's ranks on the replay's scored events (0: a miss, else the 1-based rank)."""

    name: str
    ranks: np.ndarray
    seconds: float = 0.0
    reflect_ms: np.ndarray | None = None  # ingest + next recommend, per timed event
    reflect_new: np.ndarray | None = None  # items new in the list after it (freed slot aside)
    coverage: float | None = None  # share of events the method proposed anything itself
    training: dict[str, float] | None = None  # the engine's refit at the cut: its metrics

    def reflect_stats(self) -> dict[str, float] | None:
        """Median and p99 ms from ingest start to the next list, and how often the list moved.

        ``changed_share`` counts the events after which the top-k holds an item
        it did not hold before, other than the one that replaced the consumed
        item (which leaves the list by itself).
        """
        if self.reflect_ms is None or len(self.reflect_ms) == 0:
            return None
        assert self.reflect_new is not None
        return {
            "events": float(len(self.reflect_ms)),
            "median_ms": float(np.median(self.reflect_ms)),
            "p99_ms": float(np.percentile(self.reflect_ms, 99)),
            "changed_share": float((self.reflect_new > 0).mean()),
            "mean_new_items": float(self.reflect_new.mean()),
        }


@dataclass
class ReplayReport:
    """Every method of one replay, on the same scored events, and their comparisons."""

    dataset: str
    k: int
    train_fraction: float
    max_users: int | None
    seed: int
    cut: float
    runs: list[MethodRun]
    history: np.ndarray  # user's positive events before each scored one
    new_item: np.ndarray  # the item first appeared at or after the cut
    times: np.ndarray
    baselines: BaselineSettings = field(default_factory=BaselineSettings)
    n_users: int = 0
    n_slices: int = 10
    extra: dict[str, Any] = field(default_factory=dict)

    def run(self, name: str) -> MethodRun | None:
        """The run of that name, if it was replayed."""
        return next((r for r in self.runs if r.name == name), None)

    def metrics(self) -> dict[str, dict[str, float]]:
        """HitRate, NDCG, MRR at k and the event count of every method."""
        return {r.name: rank_metrics(r.ranks, self.k) for r in self.runs}

    def ratios(self) -> dict[str, dict[str, float | None]]:
        """Real-time on over each other method, per metric (None where the other is 0);
        ``on/best-trending`` over the best live-trending baseline of each metric."""
        on = self.run("realtime-on")
        if on is None:
            return {}
        mine = rank_metrics(on.ranks, self.k)
        out: dict[str, dict[str, float | None]] = {}
        for other in ("realtime-off", "popularity", "trending", "session-knn"):
            run = self.run(other)
            if run is None:
                continue
            theirs = rank_metrics(run.ranks, self.k)
            out[f"on/{other}"] = {
                key: (mine[key] / theirs[key] if theirs[key] > 0 else None)
                for key in mine
                if key != "events"
            }
        trends = [rank_metrics(r.ranks, self.k) for r in self.runs if r.name.startswith("trending")]
        if trends:
            out["on/best-trending"] = {
                key: (mine[key] / best if (best := max(t[key] for t in trends)) > 0 else None)
                for key in mine
                if key != "events"
            }
        return out

    def _grouped(self, labels: np.ndarray, order: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for label in order:
            mask = labels == label
            group: dict[str, Any] = {"events": int(mask.sum())}
            for r in self.runs:
                m = rank_metrics(r.ranks[mask], self.k)
                group[r.name] = {key: v for key, v in m.items() if key != "events"}
            out[label] = group
        return out

    def breakdown(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Every method's metrics by the user's earlier events and by the item's age."""
        age = np.where(self.new_item, "new since the cut", "seen before the cut")
        return {
            "history": self._grouped(history_bucket(self.history), [b[0] for b in HISTORY_BUCKETS]),
            "item_age": self._grouped(age, ["seen before the cut", "new since the cut"]),
        }

    def prequential(self) -> dict[str, Any]:
        """HitRate@k of every method in equal time slices of the test period."""
        idx, edges = time_slices(self.times, self.cut, self.n_slices)
        counts = np.bincount(idx, minlength=self.n_slices)
        hit: dict[str, list[float | None]] = {}
        for r in self.runs:
            hits = np.bincount(idx, weights=(r.ranks > 0) * 1.0, minlength=self.n_slices)
            hit[r.name] = [float(h / c) if c else None for h, c in zip(hits, counts, strict=True)]
        return {"edges": edges.tolist(), "events": counts.tolist(), f"hit@{self.k}": hit}

    def to_dict(self) -> dict[str, Any]:
        """The whole report as JSON-ready data (``results`` as the dashboard reads it)."""
        metrics = self.metrics()
        results = []
        for r in self.runs:
            row: dict[str, Any] = {"name": r.name, "metrics": metrics[r.name], "seconds": r.seconds}
            if r.coverage is not None:
                row["coverage"] = r.coverage
            if r.training is not None:
                row["training"] = r.training
            results.append(row)
        reflect = {r.name: r.reflect_stats() for r in self.runs if r.reflect_stats() is not None}
        return {
            "dataset": self.dataset,
            "protocol": "replay",
            "k": self.k,
            "train_fraction": self.train_fraction,
            "max_users": self.max_users,
            "seed": self.seed,
            "cut": self.cut,
            "users": self.n_users,
            "scored_events": len(self.history),
            "baselines": {
                **dataclasses.asdict(self.baselines),
                "half_lives_s": list(self.baselines.half_lives_s),
            },
            **self.extra,
            "results": results,
            "ratios": self.ratios(),
            "breakdown": self.breakdown(),
            "prequential": self.prequential(),
            "reflect": reflect,
        }

    def plot(self, path: Path, *, title: str | None = None) -> Path:
        """Save the prequential curve (HitRate@k per time slice, per method) as a PNG."""
        try:
            import matplotlib
        except ImportError:
            raise RuntimeError(
                "the replay's curve needs matplotlib: pip install 'pulserec[plots]'"
            ) from None
        matplotlib.use("Agg")  # files only: no display
        import matplotlib.pyplot as plt

        curve = self.prequential()
        edges = np.asarray(curve["edges"])
        span = edges[-1] - edges[0]
        unit, scale = ("days", 86400.0) if span >= 3 * 86400 else ("hours", 3600.0)
        mid = ((edges[:-1] + edges[1:]) / 2 - edges[0]) / scale
        fig, ax = plt.subplots(figsize=(7.0, 4.0), dpi=110)
        for name, values in curve[f"hit@{self.k}"].items():
            y = np.array([np.nan if v is None else v for v in values])
            style = "-" if name in ENGINE_RUNS else "--"
            ax.plot(mid, y, style, marker="o", markersize=3, label=name)
        ax.set_xlabel(f"{unit} after the cut")
        ax.set_ylabel(f"HitRate@{self.k}")
        ax.set_title(title or f"{self.dataset}: HitRate@{self.k} over the test period")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
        plt.close(fig)
        return path
