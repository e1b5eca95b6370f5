"""The hybrid with and without its held-out events weighed by history length, ``loo``.

    python benchmarks/hybrid_history.py --datasets globo=../shared/data/globo-news-clicks-day1 \
        synthetic:visits-like

For each dataset (a loader's name and folder, or ``synthetic:PRESET``, a generated log of
:data:`~pulserec.evaluation.synthetic.PRESETS`): the ``loo`` split (as ``pulserec evaluate
--protocol loo``), no item text, every model at its defaults (no grid search: the
comparison is of the blend's choice, not of tuning); the transformer alone, then the
hybrid with ``match_history`` off and on, each fitted once on train and tested with the
user's train and validation items masked and unmasked. Full ranking, NDCG@10. Printed:
one row per model, the bases the forward selection kept and the fit's seconds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from pulserec.config import DEFAULT_SEED
from pulserec.evaluation.evaluator import evaluate
from pulserec.evaluation.splits import make_split, to_split_data
from pulserec.evaluation.synthetic import PRESETS, generate
from pulserec.events.datasets import load_dataset
from pulserec.models import make_model
from pulserec.models.hybrid import Hybrid

RUNS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("sequential", "sequential", {}),
    ("hybrid, every held-out event alike", "hybrid", {"match_history": False}),
    ("hybrid, weighed by history length", "hybrid", {"match_history": True}),
)


def run(name: str, path: Path | None) -> list[dict[str, Any]]:
    if name.startswith("synthetic:"):
        ds = generate(PRESETS[name.partition(":")[2]], seed=DEFAULT_SEED, name=name)
    else:
        ds = load_dataset(name, path, verbose=False)
    data = to_split_data(make_split(ds.events, "loo"), None)
    rows = []
    for label, model_name, params in RUNS:
        model = make_model(model_name, **params)
        t0 = time.perf_counter()
        model.fit(data.train)
        row: dict[str, Any] = {"model": label, "fit_s": time.perf_counter() - t0}
        for key, mask in (("masked", True), ("unmasked", False)):
            scores, _ = evaluate(model, data, k=10, on="test", mask_history=mask)
            row[key] = scores["ndcg@10"]
        kept = model.selection_[-1][0] if isinstance(model, Hybrid) and model.selection_ else ()
        row["bases"] = ", ".join(kept)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--datasets", nargs="+", required=True, metavar="NAME=DIR",
        help="Datasets by loader name and local folder, or synthetic:PRESET.",
    )  # fmt: skip
    args = parser.parse_args()
    for spec in args.datasets:
        name, _, folder = spec.partition("=")
        rows = run(name, Path(folder) if folder else None)
        print(f"\n{name}, loo, NDCG@10\n")
        print("| model | masked | unmasked | bases kept | fit s |")
        print("|---|---:|---:|---|---:|")
        for r in rows:
            print(f"| {r['model']} | {r['masked']:.4f} | {r['unmasked']:.4f} "
                  f"| {r['bases'] or '–'} | {r['fit_s']:.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
