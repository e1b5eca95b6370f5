"""The learned blend against a two-expert mixture, on each dataset's held-out choices.

    python benchmarks/blend_mixture.py --data-root ../shared/data [--crowd-only] \\
        [--datasets ml-100k globo synthetic:trend-0.3-no-categories ...]

The engine's blend is log-linear: one weighted sum of the features, a softmax over each
candidate list fitted on the held-out window's choices (``pulserec.ranking``). Where the
crowd's choice and the user's own explain different events (a hot set that takes a
third of the events, the rest by the user's topic), a log-linear score can only multiply
the two: an item with a little personal signal outranks a hot one, though a hot item is
what the user takes a third of the time. A mixture of two softmaxes says it directly:
``p(item) = π p_crowd(item) + (1 - π) p_own(item)``, each expert a weighted sum of every
feature (the crowd's started from the linear fit's trending weights, the user's own from
all of it; with ``--crowd-only`` the crowd's weighs the crowd's features alone, as the
engine's :func:`pulserec.engine.mixture.fit_mixture`, which fits it then), ``π`` fitted
with them by maximum likelihood.

Per dataset: the engine alone (no transformer) is fitted at the replay's cut (80 % of
the timeline) as ``pulserec replay`` does, and the held-out choices its blend is fitted
on are kept (``engine.training.fit_blend`` is wrapped to record them). Those choices are
split in two halves (seeded); each model is fitted on one half and ranks the other,
both ways; printed are HitRate@10 and NDCG@10 of the chosen item among its list's
candidates, the ratio of the mixture to the linear blend, and the fitted ``π``.

What this measures is the ranking step alone, on lists that hold the chosen item,
against everyone's linear weights; the engine serves the crowd-only mixture where it
ranks a refit's held-out window better than its per-segment linear blend
(:func:`pulserec.engine.mixture.choose_mixture`). ``--datasets`` takes the registry's
names (with their folders under ``--data-root``) and ``synthetic:VARIANT`` for a variant
of ``benchmarks/shape_sweep.py``.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

import pulserec.engine.training as training
from pulserec.config import DEFAULT_SEED, Settings
from pulserec.engine import Engine
from pulserec.engine.features import DEFAULT_WEIGHTS
from pulserec.engine.mixture import Mixture, crowd_columns, fit_mixture
from pulserec.evaluation.replay import plan_replay
from pulserec.evaluation.synthetic import PRESETS, generate
from pulserec.events import load_dataset
from pulserec.events.base import Dataset
from pulserec.ranking import ChoiceData, chosen_ranks, fit_weights, mixture_ranks, recall_ndcg
from replay_all import REAL
from shape_sweep import VARIANTS

DEFAULT_SETS = (
    "ml-100k", "ml-latest-small", "amazon-reviews", "douban", "globo", "mind",
    "synthetic:base", "synthetic:trend-0.3", "synthetic:no-categories",
    "synthetic:trend-0.3-no-categories",
)  # fmt: skip


def dataset(name: str, root: Path) -> Dataset:
    if name.startswith("synthetic:"):
        variant = name.split(":", 1)[1]
        shape = replace(PRESETS["visits-like"], **VARIANTS[variant])
        return generate(shape, seed=DEFAULT_SEED, name=f"visits-like {variant}")
    spec = next(s for s in REAL if s.name == name)
    return load_dataset(name, root / spec.folder, verbose=False)


def held_out_choices(ds: Dataset) -> ChoiceData:
    """The choices the engine's blend is fitted on at the replay's cut."""
    plan = plan_replay(ds, seed=DEFAULT_SEED)
    config = replace(Settings().engine.to_engine_config(), sequential=False)
    seen: list[ChoiceData] = []
    fit = training.fit_blend

    def recorded(data: ChoiceData) -> tuple[np.ndarray, dict[str, float]]:
        seen.append(data)
        return fit(data)

    training.fit_blend = recorded  # type: ignore[assignment]
    try:
        engine = Engine(config=config)
        engine.upsert_items(plan.items)
        engine.bootstrap(plan.train)
        engine.train()
    finally:
        training.fit_blend = fit  # type: ignore[assignment]
    return seen[0]


def fit_free_mixture(data: ChoiceData, linear: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The two experts' weights, each over every feature, and ``π`` (the crowd's share):
    the engine's :func:`~pulserec.engine.mixture.fit_mixture` with the crowd's expert
    reading every column, started from the linear weights (the crowd's on the crowd's
    features only, 0 on the others) and a share of 0.3."""
    crowd = crowd_columns()
    start = Mixture(linear, np.where(crowd, linear, 0.0), 0.3)
    fitted = fit_mixture(data, linear, start=start, columns=np.ones_like(crowd))
    return fitted.crowd, fitted.own, fitted.share


def compare(data: ChoiceData, crowd_only: bool = False) -> dict[str, Any]:
    half = np.random.default_rng(DEFAULT_SEED).random(len(data)) < 0.5
    ranks: dict[str, list[np.ndarray]] = {"linear": [], "mixture": []}
    shares = []
    for fold in (half, ~half):
        train, test = data.subset(fold.tolist()), data.subset((~fold).tolist())
        w, _ = fit_weights(train, DEFAULT_WEIGHTS)
        ranks["linear"].append(chosen_ranks(test, w))
        if crowd_only:
            fitted = fit_mixture(train, w)
            wc, wo, pi = fitted.crowd, fitted.own, fitted.share
        else:
            wc, wo, pi = fit_free_mixture(train, w)
        shares.append(pi)
        ranks["mixture"].append(mixture_ranks(test, wo, wc, pi))
    # HitRate@10 of one chosen item per list is Recall@10; no missed choices: the ranking
    # step alone, on lists that hold the chosen item
    lin, mix = (recall_ndcg(np.concatenate(ranks[k])) for k in ("linear", "mixture"))
    return {"choices": len(data), "linear": lin, "mixture": mix, "pi": shares}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--datasets", nargs="+", default=list(DEFAULT_SETS))
    parser.add_argument(
        "--crowd-only", action="store_true", help="The crowd's expert on its features alone."
    )
    args = parser.parse_args()
    rows = []
    for name in args.datasets:
        found = compare(held_out_choices(dataset(name, args.data_root)), args.crowd_only)
        rows.append((name, found))
        (lh, ln), (mh, mn) = found["linear"], found["mixture"]
        print(f"{name}: {found['choices']} choices, linear {lh:.4f}/{ln:.4f}, mixture "
              f"{mh:.4f}/{mn:.4f}", flush=True)  # fmt: skip
    print("| dataset | held-out choices | linear HitRate@10 / NDCG@10 | mixture HitRate@10 / "
          "NDCG@10 | mixture ÷ linear (NDCG@10) | π (each half) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---|")
    for name, found in rows:
        (lh, ln), (mh, mn) = found["linear"], found["mixture"]
        pis = " / ".join(f"{p:.2f}" for p in found["pi"])
        print(f"| {name} | {found['choices']} | {lh:.4f} / {ln:.4f} | {mh:.4f} / {mn:.4f} "
              f"| {mn / ln:.3f} | {pis} |")  # fmt: skip


if __name__ == "__main__":
    main()
