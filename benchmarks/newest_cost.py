"""What the ``newest`` source and the ``recency`` features cost a request.

    python benchmarks/newest_cost.py --items 100000 --categories 200 --requests 2000

An engine without models holds ``--items`` items, each in one of ``--categories``
categories drawn uniformly and published at a random time over the last year; a user
took ten items of three categories. Per request (a fresh request object each time, as
a recommendation makes), the ``newest`` source's call and the two recency feature
columns over 400 candidates are timed, against the ``category`` source's call on the
same request (its trending items of the same categories, the baseline of the table: the
same per-category work over counts instead of publication times). Medians and 99th
percentiles in microseconds, wall clock; run it with ``nice`` on a shared machine.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np

from engine import micro_table
from pulserec.engine import Engine, EngineConfig
from pulserec.engine.features import category_recency, recency
from pulserec.engine.sources import SOURCES
from pulserec.types import Event, Item

DAY = 86400.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--categories", type=int, default=200)
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    now = 400 * DAY
    engine = Engine(config=replace(EngineConfig(), sequential=False))
    cats = rng.integers(0, args.categories, args.items)
    published = now - rng.random(args.items) * 365 * DAY
    engine.upsert_items([
        Item(f"i{j}", categories=(f"c{c}",), created_at=float(t))
        for j, (c, t) in enumerate(zip(cats.tolist(), published.tolist(), strict=True))
    ])  # fmt: skip
    taken = [j for c in (0, 1, 2) for j in np.flatnonzero(cats == c)[:4].tolist()][:10]
    for k in range(2000):  # a crowd, so that the category source has trending items
        engine.ingest(Event(f"crowd{k}", f"i{rng.integers(args.items)}", "click", now - 1e4 + k))
    for k, j in enumerate(taken):
        engine.ingest(Event("a", f"i{j}", "click", now + k))
    state = engine.states.get("a")
    cands = rng.choice(args.items, 400, replace=False)
    times: dict[str, list[float]] = {"category source": [], "newest source": [],
                                     "recency features": []}  # fmt: skip
    for _ in range(args.requests):
        request = engine.ranker.request(None, state, "a")
        t0 = time.perf_counter()
        SOURCES["category"].candidates(request, 100)
        t1 = time.perf_counter()
        found = SOURCES["newest"].candidates(request, 100)
        t2 = time.perf_counter()
        recency(request, cands)
        category_recency(request, cands)
        t3 = time.perf_counter()
        assert found is not None and len(found)
        times["category source"].append((t1 - t0) * 1e6)
        times["newest source"].append((t2 - t1) * 1e6)
        times["recency features"].append((t3 - t2) * 1e6)
    print(f"{args.items:,} items, {args.categories} categories, {args.requests} requests\n")
    print(micro_table(times, "category source", "category source"))


if __name__ == "__main__":
    main()
