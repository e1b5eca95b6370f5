"""Wall time of each part of an after-event recommendation at 100k items.

    python benchmarks/request_parts.py --items 100000 --users 20000 --requests 1500
    python benchmarks/request_parts.py --plain --described

The engine and models of ``benchmarks/engine.py --sequential`` (``--plain``: without the
transformer; ``--described``: the catalog in categories with publication times, as
``engine.py --described``); each timed user sends an event and is ranked as a first visit
(the factor source's kept lists are dropped first).
Each candidate source, the transformer's forward pass, the feature matrix, each of its
columns and the other parts of ``Ranker.recommend`` are wrapped with a timer; printed are
each part's median, mean and 99th percentile over the requests (ms), slowest first. The
wrappers cost a microsecond or two per part.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from engine import warm_engine
from pulserec.config import DEFAULT_SEED
from pulserec.engine import features as features_module
from pulserec.engine import rank as rank_module
from pulserec.engine.sequential import SequentialScorer
from pulserec.engine.sources import SOURCES
from pulserec.types import Event


def timer(func: Callable[..., Any], label: str, spent: dict[str, float]) -> Callable[..., Any]:
    """``func`` adding the seconds of each call to ``spent[label]``."""

    def wrapper(*a: Any, **k: Any) -> Any:
        t0 = time.perf_counter()
        out = func(*a, **k)
        spent[label] = spent.get(label, 0.0) + time.perf_counter() - t0
        return out

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--plain", action="store_true", help="Without the transformer.")
    parser.add_argument("--described", action="store_true",
                        help="Items in 100 categories, with publication times.")  # fmt: skip
    args = parser.parse_args()
    n_items, n_users = args.items, args.users
    rng = np.random.default_rng(args.seed)
    engine, plain, _, ts = warm_engine(n_items, n_users, args.seed, rng, args.described)
    if args.plain:
        engine.models = plain

    spent: dict[str, float] = {}

    def timed(owner: Any, name: str, label: str) -> None:
        setattr(owner, name, timer(getattr(owner, name), label, spent))

    for name, source in SOURCES.items():
        timed(source, "candidates", f"source {name}")
    timed(SequentialScorer, "_compute", "  transformer forward pass (in its source)")
    timed(rank_module, "gather", "all sources")
    timed(rank_module, "feature_matrix", "feature matrix")
    timed(rank_module, "terms", "blend terms")
    timed(rank_module.Ranker, "allowed", "seen/deleted mask")
    timed(rank_module, "mmr", "top k (mmr)")
    timed(engine.ranker.explainer, "reasons", "reasons")
    features_module.FEATURES = tuple(
        dataclasses.replace(f, column=timer(f.column, f"  feature {f.name}", spent))
        for f in features_module.FEATURES
    )

    parts: dict[str, list[float]] = defaultdict(list)
    for j in range(args.requests + 200):  # the first 200: warm-up
        u = f"u{int(rng.integers(0, n_users))}"
        ts += 1
        t0 = time.perf_counter()
        engine.ingest(Event(u, f"i{int(rng.integers(0, n_items))}", "click", ts))
        ingest = time.perf_counter() - t0
        engine.factor_cache.serve(engine.models)  # a first visit
        spent.clear()
        t0 = time.perf_counter()
        engine.recommend(u, 10)
        total = time.perf_counter() - t0
        if j >= 200:
            for label, seconds in spent.items():
                parts[label].append(seconds)
            parts["recommend (whole)"].append(total)
            parts["(the event's ingest, before it)"].append(ingest)

    print("| part | p50 ms | mean ms | p99 ms |")
    print("|---|---:|---:|---:|")
    for label in sorted(parts, key=lambda k: -statistics.median(parts[k])):
        ms = sorted(s * 1000 for s in parts[label])
        print(f"| {label} | {ms[len(ms) // 2]:.3f} | {np.mean(ms):.3f} "
              f"| {ms[int(0.99 * len(ms))]:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
