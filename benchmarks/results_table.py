"""Regenerate docs/results.md: classic models on both MovieLens sets and both protocols.

    python benchmarks/results_table.py --data-root ../shared/data --output docs/results.md

Every figure is full ranking over all items, every rating an implicit
interaction, hyperparameters tuned on the validation split (``make results``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pulserec.config import DEFAULT_SEED, get_settings

DATASETS = ("ml-100k", "ml-latest-small")
PROTOCOLS = ("random811", "loo")
MODELS = "pop,itemknn,ease,als,bpr,covisit"
METRICS = ("ndcg", "recall", "mrr", "hit", "precision", "coverage", "novelty", "gini", "diversity")

KEPT_MARKER = "<!-- below: written by benchmarks/sequential_results.py -->"
"""Everything from this line on is kept when the file is regenerated."""

# RecBole 1.2.1, default hyperparameters, ml-100k, random 80/10/10, full ranking
# (NDCG@10, Recall@10), as stated in the project's foundation issue.
RECBOLE_ML100K = {
    "pop": (0.111, 0.092),
    "itemknn": (0.284, 0.241),
    "bpr": (0.288, 0.245),
    "ease": (0.327, 0.276),
}


def run_one(dataset: str, protocol: str, data_root: Path, out_dir: Path, k: int, seed: int) -> dict:
    out = out_dir / f"{dataset}-{protocol}-{seed}.json"
    cmd = [
        sys.executable, "-m", "pulserec.cli", "evaluate",
        "--dataset", dataset, "--data-dir", str(data_root / dataset),
        "--protocol", protocol, "--models", MODELS, "--k", str(k), "--seed", str(seed),
        "--output", str(out),
    ]  # fmt: skip
    subprocess.run(cmd, check=True)
    return json.loads(out.read_text())


def run(
    dataset: str, protocol: str, data_root: Path, out_dir: Path, k: int, seeds: list[int]
) -> dict:
    """One protocol on one dataset; random splits are repeated over ``seeds`` and averaged."""
    used = seeds if protocol == "random811" else seeds[:1]  # loo is deterministic
    runs = [run_one(dataset, protocol, data_root, out_dir, k, s) for s in used]
    merged = dict(runs[0])
    merged["seeds"] = used
    merged["results"] = []
    for j, first in enumerate(runs[0]["results"]):
        per_seed = [r["results"][j] for r in runs]
        metrics = {
            key: float(np.mean([p["metrics"][key] for p in per_seed])) for key in first["metrics"]
        }
        spread = {
            key: float(np.std([p["metrics"][key] for p in per_seed])) for key in first["metrics"]
        }
        merged["results"].append(
            {
                **first,
                "metrics": metrics,
                "std": spread,
                "per_seed_ndcg": [p["metrics"][f"ndcg@{k}"] for p in per_seed],
                "fit_seconds": float(np.median([p["fit_seconds"] for p in per_seed])),
                "params": first["params"] if len(per_seed) == 1 else "tuned per seed",
            }
        )
    return merged


def render(runs: list[dict], k: int, seconds: float) -> str:
    lines = [
        "# Offline results: classic models",
        "",
        "Produced by `make results` (`python benchmarks/results_table.py --data-root ../shared/data"
        " --output docs/results.md`)",
        f"in {seconds:.0f} s on the 2-core development machine. Full ranking over all items",
        "that occur in the interactions; every rating is one implicit interaction (no threshold,",
        "no k-core); at test time the user's train and validation items are masked. Each model's",
        "hyperparameters are chosen by a small grid search on the validation split (NDCG@K),",
        "then it is fitted on the train part and scored on test. Random splits are repeated",
        "over three seeds and averaged (their spread on ml-100k is about ±.008 NDCG@10).",
        "",
    ]
    for r in runs:
        lines += [
            f"## {r['dataset']} · {r['protocol']} · K={k}",
            "",
            f"{r['n_users']} users, {r['n_items']} items, split sizes {r['split']}; "
            f"split seeds {r['seeds']} (figures are means over them).",
            "",
            "| model | " + " | ".join(f"{m}@{k}" for m in METRICS) + " | fit s | chosen params |",
            "|---|" + "---:|" * (len(METRICS) + 1) + "---|",
        ]
        for res in r["results"]:
            cells = [f"{res['metrics'].get(f'{m}@{k}', float('nan')):.4f}" for m in METRICS]
            params = (
                ", ".join(f"{a}={b}" for a, b in res["params"].items())
                if isinstance(res["params"], dict)
                else res["params"]
            )
            lines.append(
                f"| {res['model']} | "
                + " | ".join(cells)
                + f" | {res['fit_seconds']:.2f} | {params} |"
            )
        lines.append("")
        if r["dataset"] == "ml-100k" and r["protocol"] == "random811":
            lines += [
                "Against RecBole 1.2.1 with its defaults on the same kind of split"
                " (NDCG@10 / Recall@10):",
                "",
                "| model | RecBole | pulserec (mean) | NDCG ratio | NDCG@10 per seed |",
                "|---|---:|---:|---:|---|",
            ]
            for res in r["results"]:
                ref = RECBOLE_ML100K.get(res["model"])
                if ref is None:
                    continue
                nd, rc = res["metrics"][f"ndcg@{k}"], res["metrics"][f"recall@{k}"]
                lines.append(
                    f"| {res['model']} | {ref[0]:.3f} / {ref[1]:.3f} | {nd:.3f} / {rc:.3f} "
                    f"| {nd / ref[0]:.2f}× "
                    f"| {', '.join(f'{x:.4f}' for x in res['per_seed_ndcg'])} |"
                )
            lines.append("")
    lines += [
        "Metric definitions: Recall divides hits by the user's held-out items; NDCG's ideal",
        "DCG puts min(held-out, K) hits first; MRR is the reciprocal rank of the first hit;",
        "coverage is the share of items recommended to anyone; novelty the mean -log2 of the",
        "share of training users who had the item; gini the Gini coefficient of exposure over",
        "all items; diversity the mean pairwise cosine distance of genre one-hots in a list.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=get_settings().data_root)
    parser.add_argument("--output", type=Path, default=Path("docs/results.md"))
    parser.add_argument("--k", type=int, default=10)
    seeds = [DEFAULT_SEED, DEFAULT_SEED + 1, DEFAULT_SEED + 2]
    parser.add_argument("--seeds", type=int, nargs="+", default=seeds)
    args = parser.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        runs = [
            run(d, p, args.data_root, Path(tmp), args.k, args.seeds)
            for d in DATASETS
            for p in PROTOCOLS
        ]
    text = render(runs, args.k, time.perf_counter() - t0)
    if args.output.is_file():  # keep the section other benchmarks write below the marker
        previous = args.output.read_text()
        if KEPT_MARKER in previous:
            text = text.rstrip("\n") + "\n\n" + previous[previous.index(KEPT_MARKER) :]
    args.output.write_text(text)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
