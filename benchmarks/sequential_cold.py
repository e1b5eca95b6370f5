"""Rare items and the sequential transformer: what the text part of the item vectors buys.

Protocol (``loo``, as ``pulserec evaluate --protocol loo``):

1. Every rating is a positive interaction; per user in time order the last one is the test
   item, the second-last the validation item, the rest train.
2. The sequential transformer is fitted on train twice with the same hyperparameters and seed:
   once with the item text embeddings (``use-m3`` of title, genres and, on ml-latest-small,
   tags, through the on-disk cache), once with ``use_text=False`` (ID embeddings only).
3. **Rare items** are items with at most ``--max-count`` (5) training interactions, including
   items with none. The figure is Recall@10 over the test events whose target is a rare item,
   full ranking over all items, the user's train and validation items masked. The overall
   NDCG@10 and Recall@10 (all test events) are reported next to it, so that a gain on rare
   items is not read without its price on the rest.

With one test event per user, Recall@10 of an event is 1 when the target is in the top 10.

Usage::

    .venv/bin/python benchmarks/sequential_cold.py --datasets ml-100k,ml-latest-small \\
        --output results/sequential_cold.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from pulserec.evaluation import evaluate, make_split, to_split_data
from pulserec.evaluation.splits import SplitData
from pulserec.events import load_dataset
from pulserec.models.content import item_texts_for
from pulserec.models.sequential import SequentialTransformer
from pulserec.text import CachedEncoder, make_encoder

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def rare_recall(
    model: SequentialTransformer, data: SplitData, rare: np.ndarray, k: int = 10
) -> tuple[float, int]:
    """Recall@k over test events whose target item is rare; returns (recall, n_events)."""
    test = data.test.matrix.tocoo()
    hits, total = 0, 0
    target_rare = rare[test.col]
    users, items = test.row[target_rare], test.col[target_rare]
    if len(users) == 0:
        return 0.0, 0
    history = (data.train.matrix + data.valid.matrix).tocsr()
    top, _ = model.recommend(users, k, exclude=history[users], filter_seen=False)
    hits = int((top == items[:, None]).any(axis=1).sum())
    total = len(users)
    return hits / total, total


def run(dataset: str, max_count: int, params: dict[str, Any], threads: int) -> dict[str, Any]:
    ds = load_dataset(dataset, DATA / dataset, verbose=False)
    data = to_split_data(make_split(ds.events, "loo"))
    encoder = CachedEncoder(make_encoder("use-m3"), REPO / ".data" / "embeddings" / "use-m3")
    texts = item_texts_for(ds.items, data.train.items.to_list())
    data.train = data.train.with_item_vectors(encoder.encode(texts))
    counts = np.bincount(data.train.item_idx, minlength=data.n_items)
    rare = counts <= max_count
    out: dict[str, Any] = {
        "dataset": dataset,
        "n_items": data.n_items,
        "rare_items": int(rare.sum()),
        "items_without_interactions": int((counts == 0).sum()),
        "params": params,
        "runs": {},
    }
    for label, use_text in (("with text", True), ("ids only", False)):
        model = SequentialTransformer(**params, use_text=use_text, n_threads=threads)
        t0 = time.perf_counter()
        model.fit(data.train)
        fit_s = time.perf_counter() - t0
        recall, n_events = rare_recall(model, data, rare)
        overall, _ = evaluate(model, data, k=10, on="test", mask_history=True)
        out["runs"][label] = {
            "rare_recall@10": recall,
            "rare_test_events": n_events,
            "ndcg@10": overall["ndcg@10"],
            "recall@10": overall["recall@10"],
            "fit_seconds": round(fit_s, 1),
            "epochs": model.fit_epochs_,
            "best_epoch": model.best_epoch_,
        }
        print(dataset, label, json.dumps(out["runs"][label]), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="ml-100k,ml-latest-small")
    parser.add_argument("--max-count", type=int, default=5, help="Rare: at most this many.")
    parser.add_argument("--params", default="{}", help="SequentialTransformer params, JSON.")
    parser.add_argument("--threads", type=int, default=2, help="Torch threads while fitting.")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    params = json.loads(args.params)
    results = [run(d, args.max_count, params, args.threads) for d in args.datasets.split(",")]
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2))
        print(f"results written to {args.output}")


if __name__ == "__main__":
    main()
