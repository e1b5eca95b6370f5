"""MIND impression ranking: what each simple online signal is worth, engine aside.

Same protocol and the same test impressions as ``pulserec replay --dataset mind``
(:mod:`pulserec.evaluation.impressions`): impressions are cut at 80 % of their timeline;
every scorer first observes the training-period impressions in time order, then each test
impression's candidates are scored and its outcome observed. Every user's click history
(clicks before the impression log starts; the same for all of a user's impressions) is
known from the start.

Scorers (one fresh instance each, none sees an impression before scoring it):

- ``click popularity``: training-period clicks per item, fixed at the cut (the replay's
  baseline).
- ``text profile``: cosine of the candidate's title and abstract (``use-m3``) with the
  recency-weighted mean of the user's clicked news (half-life 10 clicks); candidates without
  text get the impression's mean, so having text is not itself a signal.
- ``freshness``: minus log hours since the candidate was first seen, in an impression or in
  any user's history (history items count as seen at the log's start).
- ``live CTR``: (clicks + 0.4) / (shows + 10) of the candidate in the impressions so far;
  ``frozen`` stops counting at the cut.
- ``live popularity``: impression clicks so far, each decaying with a 6 h half-life, log1p;
  ``frozen`` as above.
- ``has text``: 1 when the candidate has text; a check that text coverage does not leak.
- ``LR(...)``: logistic regression on those signals, each standardised per impression,
  fitted on the training-period impressions only (their features as an online scorer had
  them), then run on the test impressions with the fitted weights.

Every setting above is fixed in advance, not tuned on the test impressions.

Usage::

    .venv/bin/python benchmarks/mind_impressions.py --datasets mind,mind-zh \\
        --output results/mind_impressions.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from pulserec.config import DEFAULT_ENCODER, DEFAULT_SEED, get_settings
from pulserec.evaluation.impressions import (
    METRICS,
    ClickThrough,
    Combination,
    CountScorer,
    DecayedClicks,
    Freshness,
    ImpressionScorer,
    ImpressionSplit,
    TextProfile,
    fit_combination,
    mean_metrics,
    prime,
    run_impressions,
    split_impressions,
)
from pulserec.events import Dataset, load_dataset, load_mind_impressions
from pulserec.events.datasets.mind import Impression
from pulserec.text import CachedEncoder, make_encoder

REPO = Path(__file__).resolve().parents[1]


class Frozen:
    """A scorer that stops learning at the cut: the real-time off counterpart."""

    def __init__(self, scorer: ImpressionScorer) -> None:
        self.scorer = scorer

    def score(self, impression: Impression) -> np.ndarray:
        return self.scorer.score(impression)

    def observe(self, impression: Impression) -> None:
        return None


class HasText:
    """1 for candidates with a text vector, else 0."""

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors

    def score(self, impression: Impression) -> np.ndarray:
        return np.array([float(c in self.vectors) for c in impression.candidates])

    def observe(self, impression: Impression) -> None:
        return None


def text_vectors(ds: Dataset, encoder: Any) -> dict[str, np.ndarray]:
    """Unit ``use-m3`` vectors of every item's title and abstract, by item id."""
    items = ds.items[ds.items["text"].fillna("").str.strip() != ""]
    vecs = encoder.encode(items["text"].tolist(), kind="passage", progress=True)
    vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    return dict(zip(items["item_id"].astype(str), vecs.astype(np.float64), strict=True))


def signals(
    split: ImpressionSplit, histories: dict[str, list[str]], vectors: dict[str, np.ndarray]
) -> dict[str, ImpressionScorer]:
    """A fresh instance of each online signal (nothing observed yet)."""
    start = min(imp.timestamp for imp in split.train + split.test)
    history_items = {h for hist in histories.values() for h in hist}
    out: dict[str, ImpressionScorer] = {
        "freshness": Freshness(history_items, start),
        "live CTR": ClickThrough(prior_clicks=0.4, prior_shows=10.0),
        "live popularity": DecayedClicks(half_life_s=6 * 3600.0),
    }
    if vectors:
        out["text profile"] = TextProfile(vectors, histories, half_life_clicks=10.0)
    return out


def evaluate(ds: Dataset, impressions: list[Impression], encoder: Any, args: Any) -> dict[str, Any]:
    split = split_impressions(ds, impressions, train_fraction=args.train_fraction,
                              max_impressions=args.max_impressions, seed=args.seed)  # fmt: skip
    histories = {imp.user_id: list(imp.history) for imp in impressions}
    t0 = time.perf_counter()
    vectors = text_vectors(ds, encoder)
    print(f"  {len(vectors)} news with text, embedded in {time.perf_counter() - t0:.0f} s")
    train = split.train_events
    clicks = train.loc[train["type"] == "click", "item_id"].astype(str).value_counts()

    scorers: dict[str, ImpressionScorer] = {
        "click popularity": CountScorer({str(i): float(n) for i, n in clicks.items()})
    }
    scorers.update(signals(split, histories, vectors))
    frozen = signals(split, histories, {})
    scorers["live CTR, frozen at the cut"] = Frozen(frozen["live CTR"])
    scorers["live popularity, frozen at the cut"] = Frozen(frozen["live popularity"])
    scorers["has text"] = HasText(vectors)
    prime([*scorers.values(), *frozen.values()], split.train)

    weights: dict[str, dict[str, float]] = {}
    groups = {"LR(all)": None, "LR(no text)": "text profile", "LR(no freshness)": "freshness"}
    for name, dropped in groups.items():
        parts = {k: v for k, v in signals(split, histories, vectors).items() if k != dropped}
        combo: Combination = fit_combination(parts, split.train)
        scorers[name] = combo
        weights[name] = combo.weights

    t0 = time.perf_counter()
    rows = run_impressions(split, scorers)
    results = {name: mean_metrics(r) for name, r in rows.items()}
    print(f"  replayed {len(split.test)} test impressions in {time.perf_counter() - t0:.0f} s")
    return {"results": results, "weights": weights, "news_with_text": len(vectors),
            "train_impressions": len(split.train), "test_impressions": len(split.test)}


def print_table(name: str, out: dict[str, Any]) -> None:
    print(f"\n{name}: {out['news_with_text']} news with text; "
          f"{out['train_impressions']} training / {out['test_impressions']} test impressions")
    print(f"| scorer | {' | '.join(m.upper() if m != 'ndcg@5' else m for m in METRICS)} |")
    print("|---|" + "---:|" * len(METRICS))
    for scorer, m in out["results"].items():
        cells = [f"{m['auc']:.4f} ± {m['auc_se']:.4f}"] + [f"{m[k]:.4f}" for k in METRICS[1:]]
        print(f"| {scorer} | {' | '.join(cells)} |")
    for combo, w in out["weights"].items():
        print(f"{combo} weights: " + ", ".join(f"{k} {v:+.3f}" for k, v in w.items()))


def main() -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    data_dir = REPO / settings.dataset_dir("mind-small-sample")
    parser.add_argument("--data-dir", type=Path, default=data_dir)
    parser.add_argument("--datasets", default="mind,mind-zh",
                        help="Comma-separated: mind (English text), mind-zh (plus xMIND).")
    parser.add_argument("--encoder", default=DEFAULT_ENCODER)
    parser.add_argument("--cache-dir", type=Path, default=REPO / settings.embedding_cache_dir,
                        help="Embedding cache folder (re-runs skip the encoder).")
    parser.add_argument("--train-fraction", type=float, default=0.8)
    parser.add_argument("--max-impressions", type=int, default=None)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()

    encoder = CachedEncoder(make_encoder(args.encoder), args.cache_dir / args.encoder)
    impressions = load_mind_impressions(args.data_dir)
    report: dict[str, Any] = {"encoder": args.encoder, "train_fraction": args.train_fraction}
    for name in args.datasets.split(","):
        print(f"{name}:")
        ds = load_dataset(name, args.data_dir, verbose=False)
        report[name] = evaluate(ds, impressions, encoder, args)
        print_table(name, report[name])
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2))
        print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
