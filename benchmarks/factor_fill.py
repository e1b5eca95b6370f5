"""A user's first request after new models are swapped in: the factor source's list
searched by the request, or filled for the users active lately at the swap.

    python benchmarks/factor_fill.py --items 100000 --users 20000 --requests 2000

The engine and models of ``benchmarks/engine.py --sequential`` (the transformer serving).
Requests go in blocks that alternate two ways of starting: every kept list dropped (as a
swap left them before :meth:`~pulserec.engine.sources.factor.FactorCache.fill`), or the
lists of the block's users searched in batches first (as a swap now does for the users
active or read lately). In each block every user sends an event and is then ranked once:
the first visit after an event. Printed: p50 / p99 of those requests per way, their ratio,
the fill's cost per user against one request's own search, and whether every filled list
equals the list the request would have searched.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from engine import ab_setup
from pulserec.engine.arrays import unit
from pulserec.types import Event


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000.0, q))


def main() -> None:
    args, engine, rng, ts = ab_setup(argparse.ArgumentParser())
    n_items, n_users = args.items, args.users
    models, cache, n = engine.models, engine.factor_cache, engine.config.n_candidates
    assert models is not None

    per_block = args.requests // args.blocks
    samples: dict[str, list[float]] = {"searched by the request": [], "filled at the swap": []}
    fill_s: list[float] = []
    search_s: list[float] = []
    same = checked = 0
    for j in range(args.blocks):
        ways = list(samples) if j % 2 == 0 else list(reversed(samples))
        for way in ways:
            users = [f"u{u}" for u in rng.choice(n_users, per_block, replace=False)]
            cache.serve(models)  # a swap: every kept list dropped
            if way == "filled at the swap":
                t0 = time.perf_counter()
                cache.fill(models, users, n)
                fill_s.append((time.perf_counter() - t0) / len(users))
                for user in users[:20]:  # the same list as the request's own search
                    kept = cache.get(models, user, n)
                    request = engine.ranker.request(models, None, user)
                    t0 = time.perf_counter()
                    query = unit(request.long_term)
                    assert query is not None
                    found = request.search(models.cf_index, query, n)
                    search_s.append(time.perf_counter() - t0)
                    checked += 1
                    same += kept is not None and np.array_equal(kept, found)
            for user in users:
                ts += 1
                engine.ingest(Event(user, f"i{int(rng.integers(0, n_items))}", "click", ts))
                t0 = time.perf_counter()
                engine.recommend(user, 10)
                samples[way].append(time.perf_counter() - t0)

    print(f"{n_items:,} items, {n_users:,} users, {args.requests} first visits after an event")
    print("| factor list | p50 ms | p99 ms |")
    print("|---|---:|---:|")
    for way, values in samples.items():
        print(f"| {way} | {percentile(values, 50):.2f} | {percentile(values, 99):.2f} |")
    a, b = samples.values()
    print(f"filled / searched: p50 {percentile(b, 50) / percentile(a, 50):.2f}, "
          f"p99 {percentile(b, 99) / percentile(a, 99):.2f}")  # fmt: skip
    print(f"fill: {statistics.median(fill_s) * 1000:.3f} ms per user (batches of "
          f"{len(users)}), one request's own search {statistics.median(search_s) * 1000:.3f} ms")
    print(f"filled lists equal to the request's own search: {same} of {checked}")


if __name__ == "__main__":
    main()
