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

``--sensitivity`` re-runs live CTR, live popularity and the text profile with other
settings, on the test impressions and on a validation window (the last quarter of the
training-period impressions, the first three quarters observed before it), so that a
setting can be judged without the test.

``--engine`` also takes the engine apart on the same test impressions: an engine (no
transformer) is trained at 60 % of the timeline, the impressions from 60 % to 80 % stream
through it (scored, then ingested), and its ranking feature columns (read through the
engine's internal ``feature_matrix``) and the signals above are collected for each. Each
engine feature's AUC alone and logistic regressions over groups of columns, fitted on the
60-80 % impressions only, are then measured on the test impressions.

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
    fit_logistic,
    impression_features,
    impression_metrics,
    mean_metrics,
    outcome_events,
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
    return {
        "results": results,
        "weights": weights,
        "news_with_text": len(vectors),
        "train_impressions": len(split.train),
        "test_impressions": len(split.test),
    }


class EngineColumns:
    """The engine's ranking feature columns for one impression, computed once."""

    def __init__(self, engine: Any) -> None:
        from pulserec.engine.features import NAMES, feature_matrix

        self.engine, self.names, self.feature_matrix = engine, NAMES, feature_matrix
        self.cached: tuple[str, np.ndarray] | None = None

    def features(self, impression: Impression) -> np.ndarray:
        if self.cached is None or self.cached[0] != impression.impression_id:
            eng = self.engine
            idx = eng.catalog.id_map.lookup(impression.candidates)
            request = eng.ranker.request(eng.models, eng.states.get(impression.user_id),
                                         impression.user_id)  # fmt: skip
            self.cached = (impression.impression_id, self.feature_matrix(request, idx))
        return self.cached[1]


class EngineColumn:
    """One engine feature column, or (``name`` None) the hybrid score; observes nothing."""

    def __init__(self, columns: EngineColumns, name: str | None) -> None:
        self.columns, self.name = columns, name

    def score(self, impression: Impression) -> np.ndarray:
        f = self.columns.features(impression)
        if self.name is None:
            return np.asarray(f @ self.columns.engine.models.weights)
        return np.asarray(f[:, self.columns.names.index(self.name)])

    def observe(self, impression: Impression) -> None:
        return None


class EngineIngest(EngineColumn):
    """The hybrid score; its observe ingests the outcome (exactly one part may)."""

    def observe(self, impression: Impression) -> None:
        self.columns.engine.ingest_many(outcome_events(impression))


def variants(
    split: ImpressionSplit, histories: dict[str, list[str]], vectors: dict[str, np.ndarray]
) -> dict[str, ImpressionScorer]:
    """The signals with other settings than :func:`signals`."""
    out: dict[str, ImpressionScorer] = {}
    for b in (3.0, 10.0, 30.0, 100.0):
        out[f"live CTR, prior shows {b:g}"] = ClickThrough(0.04 * b, b)
    for h in (6, 24):
        out[f"live CTR, {h} h half-life"] = ClickThrough(0.4, 10.0, half_life_s=h * 3600.0)
    for h in (1, 6, 24):
        out[f"live popularity, {h} h half-life"] = DecayedClicks(half_life_s=h * 3600.0)
    if vectors:
        for n in (3.0, 10.0, 30.0, 1e9):
            label = "no decay" if n > 1e6 else f"half-life {n:g} clicks"
            out[f"text profile, {label}"] = TextProfile(vectors, histories, n)
    return out


def sensitivity(
    ds: Dataset, impressions: list[Impression], vectors: dict[str, np.ndarray], args: Any
) -> dict[str, Any]:
    """AUC of each variant on a validation window inside the training period, and on test."""
    split = split_impressions(ds, impressions, train_fraction=args.train_fraction)
    k = int(0.75 * len(split.train))
    valid = ImpressionSplit(split.train[k].timestamp, split.train_events, split.train[:k],
                            split.train[k:], frozenset(range(len(split.train) - k)))  # fmt: skip
    histories = {imp.user_id: list(imp.history) for imp in impressions}
    out: dict[str, Any] = {}
    for name, part in (("validation", valid), ("test", split)):
        scorers = variants(part, histories, vectors)
        prime(scorers.values(), part.train)
        out[name] = {n: mean_metrics(r) for n, r in run_impressions(part, scorers).items()}
    return out


def engine_columns(
    ds: Dataset, impressions: list[Impression], encoder: Any, args: Any
) -> dict[str, Any]:
    """Each engine feature and re-weightings of them, fitted on 60-80 % impressions."""
    from dataclasses import replace

    from pulserec.catalog.catalog import Catalog
    from pulserec.engine import Engine
    from pulserec.evaluation.replay import to_events
    from pulserec.types import Item

    split = split_impressions(ds, impressions, train_fraction=args.train_fraction)
    early = split_impressions(ds, impressions, train_fraction=0.75 * args.train_fraction)
    config = replace(get_settings().engine.to_engine_config(), sequential=False)
    engine = Engine(encoder=encoder, config=config)
    items = list(Catalog.from_frame(ds.items))
    bare = sorted({c for imp in impressions for c in imp.candidates} - set(ds.items["item_id"]))
    engine.upsert_items(items + [Item(i) for i in bare])
    engine.bootstrap(list(to_events(early.train_events)))
    t0 = time.perf_counter()
    engine.train()
    print(
        f"  engine trained at {0.75 * args.train_fraction:.0%} in {time.perf_counter() - t0:.0f} s"
    )
    columns = EngineColumns(engine)
    histories = {imp.user_id: list(imp.history) for imp in impressions}
    vectors = text_vectors(ds, encoder)
    sig = signals(early, histories, vectors)
    prime(sig.values(), early.train)
    parts: dict[str, ImpressionScorer] = {"engine": EngineIngest(columns, None)}
    parts.update({f"engine {n}": EngineColumn(columns, n) for n in columns.names})
    parts.update(sig)
    fit_rows = impression_features(parts, [i for i in early.test if i.timestamp < split.cut])
    test_rows = impression_features(parts, split.test)
    names = list(parts)
    engine_names = [n for n in names if n.startswith("engine ")]
    groups: dict[str, list[str]] = {n: [n] for n in names}
    groups["LR(engine features)"] = engine_names
    groups["LR(engine features + live CTR)"] = [*engine_names, "live CTR"]
    groups["LR(engine features + signals)"] = [n for n in names if n != "engine"]
    x_fit = np.vstack([x for x, _ in fit_rows])
    y_fit = np.concatenate([y for _, y in fit_rows])
    results, weights = {}, {}
    for group, cols in groups.items():
        j = [names.index(c) for c in cols]
        w = fit_logistic(x_fit[:, j], y_fit) if len(cols) > 1 else np.ones(1)
        ms = [impression_metrics(x[:, j] @ w, y) for x, y in test_rows]
        results[group] = mean_metrics([m for m in ms if m is not None])
        if len(cols) > 1:
            weights[group] = dict(zip(cols, map(float, w), strict=True))
    return {"results": results, "weights": weights, "news_with_text": len(vectors),
            "train_impressions": len(fit_rows), "test_impressions": len(test_rows),
            "own_weights": dict(zip(columns.names, map(float, engine.models.weights),
                                    strict=True))}  # fmt: skip


def print_table(name: str, out: dict[str, Any]) -> None:
    print(
        f"\n{name}: {out['news_with_text']} news with text; "
        f"{out['train_impressions']} training / {out['test_impressions']} test impressions"
    )
    print(f"| scorer | {' | '.join(m.upper() if m != 'ndcg@5' else m for m in METRICS)} |")
    print("|---|" + "---:|" * len(METRICS))
    for scorer, m in out["results"].items():
        cells = [f"{m['auc']:.4f} ± {m['auc_se']:.4f}"] + [f"{m[k]:.4f}" for k in METRICS[1:]]
        print(f"| {scorer} | {' | '.join(cells)} |")
    for combo, w in out["weights"].items():
        print(f"{combo} weights: " + ", ".join(f"{k} {v:+.3f}" for k, v in w.items()))
    if "own_weights" in out:
        print(
            "the engine's own weights: "
            + ", ".join(f"{k} {v:+.3f}" for k, v in out["own_weights"].items())
        )


def main() -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    data_dir = REPO / settings.dataset_dir("mind-small-sample")
    parser.add_argument("--data-dir", type=Path, default=data_dir)
    parser.add_argument(
        "--datasets",
        default="mind,mind-zh",
        help="Comma-separated: mind (English text), mind-zh (plus xMIND).",
    )
    parser.add_argument("--encoder", default=DEFAULT_ENCODER)
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=REPO / settings.embedding_cache_dir,
        help="Embedding cache folder (re-runs skip the encoder).",
    )
    parser.add_argument("--train-fraction", type=float, default=0.8)
    parser.add_argument("--max-impressions", type=int, default=None)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--sensitivity",
        action="store_true",
        help="Also run the signals with other settings, on validation and test.",
    )
    parser.add_argument(
        "--engine",
        action="store_true",
        help="Also measure the engine's own ranking features (minutes).",
    )
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
        if args.sensitivity:
            vectors = text_vectors(ds, encoder)
            report[name]["sensitivity"] = sens = sensitivity(ds, impressions, vectors, args)
            print(f"\n{name}, other settings: AUC on validation / test")
            for variant, m in sens["validation"].items():
                print(f"  {variant:36s} {m['auc']:.4f} / {sens['test'][variant]['auc']:.4f}")
        if args.engine:
            report[name]["engine"] = engine_columns(ds, impressions, encoder, args)
            print_table(f"{name}, engine features", report[name]["engine"])
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2))
        print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
