"""Training time of the sequential transformer: full vs sampled softmax, cold vs warm start.

    python benchmarks/sequential_train.py --dataset ml-latest-small --runs engine,default

On the ``loo`` split of the dataset (item text from use-m3 through the embedding cache,
as ``benchmarks/sequential_results.py``), fits the transformer

* ``full``: full-softmax cross-entropy (``sampled_above=None``),
* ``sampled``: the sampled softmax (the step's targets plus ``negatives`` uniform items,
  logQ-corrected; the default above 5,000 items),
* ``warm``: the sampled model fitted first on the oldest 90% of the training events, then
  warm-started on all of them, as an engine refit does (validation-window fit, then the
  final fit): the time of the second fit,

* ``default``: the model's own defaults (the full softmax up to 5,000 items, sampled above),
* ``engine``: the engine's settings (``engine.sequential_params``: one torch thread,
  patience 3; ``--threads`` does not apply),

and prints one row each: fit seconds, epochs run (and the kept one), seconds per epoch,
NDCG@10 / Recall@10 on test (full ranking, history masked), the machine's load average
(1 minute) before and after the fit, and the fit's seconds per phase (``fit_phases_``). One
run each: the machine is shared, so compare rows of the same run.

``--synthetic`` fits the generated log of about 1M events over 100k items instead (the
shop-like shape with 100k users, 400 topics, a median of nine events a user, as
``benchmarks/spark_als.py``), item text from the hashing encoder (use-m3 would spend longer
encoding 100k texts than training): ``sampled`` only (a full softmax over 100k items is out
of reach here), and the held-out NDCG@10 of early stopping (its own latest event of up to
5,000 users, full ranking) instead of a test evaluation over 100k users.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from pulserec.config import DEFAULT_ENCODER, DEFAULT_SEED, get_settings
from pulserec.evaluation import evaluate, make_split, to_split_data
from pulserec.evaluation.synthetic import load_synthetic
from pulserec.events import load_dataset
from pulserec.events.interactions import Interactions
from pulserec.models.content import item_texts_for
from pulserec.models.sequential import SequentialTransformer
from pulserec.text import CachedEncoder, make_encoder

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def older_part(train: Interactions, share: float) -> Interactions:
    """The training events before the ``share`` quantile of their timestamps."""
    cut = np.quantile(train.timestamp, share)
    keep = np.asarray(train.timestamp) < cut
    u, i = np.asarray(train.user_idx)[keep], np.asarray(train.item_idx)[keep]
    matrix = sp.csr_matrix((np.ones(len(u), np.float32), (u, i)), shape=train.matrix.shape)
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    stamps = np.asarray(train.timestamp)[keep]
    return Interactions(matrix, train.users, train.items, u, i, stamps, train.item_vectors)


def load() -> float:
    """The machine's 1-minute load average."""
    return os.getloadavg()[0]


def row(
    name: str, model: SequentialTransformer, seconds: float, data: Any, loads: tuple[float, float]
) -> dict[str, Any]:
    if data is None:  # the generated log: the held-out NDCG@10 of early stopping
        metrics = {"ndcg@10": float(model.valid_ndcg_.max()), "recall@10": float("nan")}
    else:
        metrics, _ = evaluate(model, data, k=10)
    return {
        "run": name,
        "fit_s": seconds,
        "epochs": model.fit_epochs_,
        "best": model.best_epoch_,
        "s_per_epoch": seconds / max(model.fit_epochs_, 1),
        "ndcg@10": metrics["ndcg@10"],
        "recall@10": metrics["recall@10"],
        "load": list(loads),
        "phases_s": {k: round(v, 1) for k, v in getattr(model, "fit_phases_", {}).items()},
        "held_out": [round(float(v), 4) for v in model.valid_ndcg_],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="ml-latest-small")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--runs",
        default="full,sampled,warm",
        help="Comma-separated: full, sampled, warm, default, engine.",
    )
    parser.add_argument("--params", default="{}", help="More SequentialTransformer arguments.")
    parser.add_argument("--synthetic", action="store_true", help="The 1M-event generated log.")
    args = parser.parse_args()

    if args.synthetic:
        ds = load_synthetic(preset="shop-like", n_users=100_000, n_items=100_000,
                            n_topics=400, events_median=9.0)  # fmt: skip
        encoder = make_encoder("hashing")
        args.dataset, args.runs = "synthetic 1M events", "sampled"
    else:
        ds = load_dataset(args.dataset, args.data_dir or DATA / args.dataset, verbose=False)
        cache = REPO / get_settings().embedding_cache_dir / DEFAULT_ENCODER
        encoder = CachedEncoder(make_encoder(DEFAULT_ENCODER), cache)
    data = to_split_data(make_split(ds.events, "loo", DEFAULT_SEED))
    data.train = data.train.with_item_vectors(
        encoder.encode(item_texts_for(ds.items, data.train.items.to_list()))
    )
    base = {"n_threads": args.threads, **json.loads(args.params)}
    rows = []
    for name in args.runs.split(","):
        if name == "default":
            model = SequentialTransformer(**base)
        elif name == "engine":
            engine = get_settings().engine.sequential_params
            model = SequentialTransformer(**{**engine, **json.loads(args.params)})
        elif name == "full":
            model = SequentialTransformer(**{**base, "sampled_above": None})
        elif name == "sampled":
            model = SequentialTransformer(**{**base, "sampled_above": 0})
        elif name == "warm":
            early = SequentialTransformer(**{**base, "sampled_above": 0})
            early.fit(older_part(data.train, 0.9))
            model = SequentialTransformer(**{**base, "sampled_above": 0}).warm_start(early)
        else:
            raise SystemExit(f"--runs: unknown run {name!r} (full, sampled, warm, default, engine)")
        before = load()
        started = time.perf_counter()
        model.fit(data.train)
        seconds = time.perf_counter() - started
        rows.append(row(name, model, seconds, None if args.synthetic else data, (before, load())))
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{args.dataset}: {data.n_items} items, {args.threads} torch threads\n")
    print("| run | fit s | epochs (kept) | s / epoch | NDCG@10 | Recall@10 | load |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(
            f"| {r['run']} | {r['fit_s']:.0f} | {r['epochs']} ({r['best']}) "
            f"| {r['s_per_epoch']:.1f} | {r['ndcg@10']:.4f} | {r['recall@10']:.4f} "
            f"| {r['load'][0]:.1f}–{r['load'][1]:.1f} |"
        )


if __name__ == "__main__":
    main()
