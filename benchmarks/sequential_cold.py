"""Rare items and the sequential transformer: what the text part of the item vectors buys.

Protocol (``loo``, as ``pulserec evaluate --protocol loo``):

1. Every rating is a positive interaction; per user in time order the last one is the test
   item, the second-last the validation item, the rest train.
2. The sequential transformer is fitted on train twice with the same hyperparameters and seed:
   once with the item text embeddings (``use-m3`` of title, genres and, on ml-latest-small,
   tags, through the on-disk cache), once with ``use_text=False`` (ID embeddings only).
3. **Rare items** are items with at most ``--max-count`` (5) training interactions, including
   items with none. The figure is Recall@10 over the test events whose target is a rare item,
   full ranking over all items, the user's train and validation items masked; Recall@100 and
   the median rank of those targets show movement that Recall@10 is too coarse for. The overall
   NDCG@10 and Recall@10 (all test events) are reported next to it, so that a gain on rare
   items is not read without its price on the rest.

4. **Made rare** (``--made-rare``, default 0.25): on MovieLens few test targets are naturally
   rare (16 on ml-100k), so a second split simulates launches. A seeded random share of the
   distinct test-target items keeps only its earliest ``--max-count`` training
   interactions (by time; the later ones are removed from the train sequences, as if the item
   had just arrived); both variants are fitted on that train split and the figures above are
   reported over the test events whose target is one of those items.

With one test event per user, Recall@10 of an event is 1 when the target is in the top 10.

Usage::

    .venv/bin/python benchmarks/sequential_cold.py --datasets ml-100k,ml-latest-small \\
        --output results/sequential_cold.json
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from pulserec.config import DEFAULT_ENCODER, DEFAULT_SEED, get_settings
from pulserec.evaluation import evaluate, make_split, to_split_data
from pulserec.evaluation.splits import Split, SplitData
from pulserec.events import load_dataset
from pulserec.models.content import item_texts_for
from pulserec.models.sequential import SequentialTransformer
from pulserec.text import CachedEncoder, make_encoder

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / get_settings().data_root
VARIANTS: dict[str, dict[str, Any]] = {"with text": {}, "ids only": {"use_text": False}}


def target_ranks(model: SequentialTransformer, data: SplitData) -> tuple[np.ndarray, np.ndarray]:
    """0-based rank of each test target in its user's full ranking, train and valid masked.

    Returns ``(target_items, ranks)``, one entry per test event.
    """
    test = data.test.matrix.tocoo()
    users, items = test.row, test.col
    history = (data.train.matrix + data.valid.matrix).tocsr()[users].tocoo()
    scores = model.score(users)
    scores[history.row, history.col] = -np.inf
    target = scores[np.arange(len(users)), items]
    return items, (scores > target[:, None]).sum(axis=1)


def rare_figures(items: np.ndarray, ranks: np.ndarray, rare: np.ndarray) -> dict[str, Any]:
    """Recall@10, Recall@100 and the median rank over test events with a rare target."""
    r = ranks[rare[items]]
    if len(r) == 0:
        return {"rare_test_events": 0}
    return {
        "rare_test_events": len(r),
        "rare_recall@10": float(np.mean(r < 10)),
        "rare_recall@100": float(np.mean(r < 100)),
        "rare_median_rank": float(np.median(r) + 1),
    }


def made_rare(split: Split, share: float, max_count: int, seed: int) -> tuple[Split, list[str]]:
    """``split`` with a random ``share`` of the test targets cut to their first training events.

    Returns the new split and the raw ids of the items made rare.
    """
    rng = np.random.default_rng(seed)
    targets = np.array(sorted(split.test["item_id"].astype(str).unique()))
    picked = rng.choice(targets, round(share * len(targets)), replace=False)
    train = split.train.assign(item_id=split.train["item_id"].astype(str))
    chosen = train["item_id"].isin(set(picked.tolist()))
    order = train[chosen].sort_values("timestamp", kind="stable")
    keep = order.groupby("item_id", sort=False).head(max_count).index
    train = train[~chosen | train.index.isin(keep)]
    return replace(split, train=train), picked.tolist()


def run(
    dataset: str,
    max_count: int,
    params: dict[str, Any],
    variants: dict[str, dict[str, Any]],
    threads: int,
    share: float = 0.0,
    seed: int = DEFAULT_SEED,
) -> dict[str, Any]:
    ds = load_dataset(dataset, DATA / dataset, verbose=False)
    split = make_split(ds.events, "loo")
    picked: list[str] = []
    if share > 0:
        split, picked = made_rare(split, share, max_count, seed)
    data = to_split_data(split)
    encoder = CachedEncoder(
        make_encoder(DEFAULT_ENCODER), REPO / get_settings().embedding_cache_dir / DEFAULT_ENCODER
    )
    texts = item_texts_for(ds.items, data.train.items.to_list())
    data.train = data.train.with_item_vectors(encoder.encode(texts))
    counts = np.bincount(data.train.item_idx, minlength=data.n_items)
    rare = counts <= max_count
    if picked:  # only the items made rare, not the naturally rare ones
        rare = np.zeros(data.n_items, dtype=bool)
        rare[data.train.items.lookup(picked)] = True
    out: dict[str, Any] = {
        "dataset": dataset,
        "protocol": f"made rare ({share:g} of the test targets)" if share > 0 else "naturally rare",
        "n_items": data.n_items,
        "rare_items": int(rare.sum()),
        "items_without_interactions": int((counts == 0).sum()),
        "params": params,
        "runs": {},
    }
    for label, extra in variants.items():
        model = SequentialTransformer(**{**params, **extra, "n_threads": threads})
        t0 = time.perf_counter()
        model.fit(data.train)
        fit_s = time.perf_counter() - t0
        items, ranks = target_ranks(model, data)
        overall, _ = evaluate(model, data, k=10, on="test", mask_history=True)
        out["runs"][label] = {
            "params": extra,
            **rare_figures(items, ranks, rare),
            "ndcg@10": overall["ndcg@10"],
            "recall@10": overall["recall@10"],
            "fit_seconds": round(fit_s, 1),
            "epochs": model.fit_epochs_,
            "best_epoch": model.best_epoch_,
        }
        print(dataset, out["protocol"], label, json.dumps(out["runs"][label]), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="ml-100k,ml-latest-small")
    parser.add_argument("--max-count", type=int, default=5, help="Rare: at most this many.")
    parser.add_argument("--params", default="{}", help="SequentialTransformer params, JSON.")
    parser.add_argument(
        "--variants",
        default=json.dumps(VARIANTS),
        help="JSON object: row label -> extra params on top of --params.",
    )
    parser.add_argument(
        "--made-rare", type=float, default=0.25, help="Share of test targets made rare."
    )
    parser.add_argument(
        "--protocols", default="natural,made-rare", help="natural and/or made-rare."
    )
    parser.add_argument("--threads", type=int, default=2, help="Torch threads while fitting.")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    params = json.loads(args.params)
    variants = json.loads(args.variants)
    results = []
    for dataset in args.datasets.split(","):
        wanted = args.protocols.split(",")
        shares = ([0.0] if "natural" in wanted else []) + (
            [args.made_rare] if "made-rare" in wanted and args.made_rare > 0 else []
        )
        for share in shares:
            results.append(run(dataset, args.max_count, params, variants, args.threads, share))
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2))
        print(f"results written to {args.output}")


if __name__ == "__main__":
    main()
