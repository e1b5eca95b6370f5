"""What the category signals cost a request on a described catalog.

    python benchmarks/category_signals.py --items 100000 --users 20000 --requests 2000

The engine of ``benchmarks/engine.py --described`` (items in 100 categories with
publication times, synthetic models, every user 20 random events in memory, so about 18
categories each: the worst case). Per request (a fresh request object each time, as a
recommendation makes), timed:

* the ``category`` source as it runs: each category's trending items read from the
  catalog's cached top list where the category has enough of them there;
* the baseline of the table, measured on the same request: the same lists by a pass over
  each category's items (``scanned_top``, what the source did for every category before,
  and still does for a category the top list does not cover); the two lists are checked
  equal, item for item;
* both again under a filter that lets half the catalog through;
* the user's category posterior (``category_posterior``, read by the ``category_belief``
  feature).

Medians and 99th percentiles in microseconds, wall clock; run it with ``nice`` on a shared
machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from engine import catalog, micro_table, synthetic_models
from pulserec.config import DEFAULT_SEED, get_settings
from pulserec.engine import Engine
from pulserec.engine.sources import SOURCES
from pulserec.engine.sources.trending import category_posterior, category_quotas, scanned_top
from pulserec.types import Event


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    engine = Engine(config=get_settings().engine.to_engine_config())
    engine.upsert_items(catalog(args.items, True, args.seed))
    engine.swap(synthetic_models(args.items, args.users, args.seed))
    ts = 1_700_000_000.0
    users = rng.integers(0, args.users, args.users * 20).tolist()
    events = [
        Event(f"u{u}", f"i{i}", "click", ts + 0.01 * k)
        for k, (u, i) in enumerate(
            zip(users, rng.integers(0, args.items, len(users)).tolist(), strict=True)
        )
    ]
    for start in range(0, len(events), 1000):
        engine.ingest_many(events[start : start + 1000], durable=False)
    half = rng.random(args.items) < 0.5
    n = engine.config.n_candidates
    source = SOURCES["category"]
    times: dict[str, list[float]] = {
        "category source: pass over each category": [],
        "category source: from the top list": [],
        "filtered: pass over each category": [],
        "filtered: from the top list": [],
        "category posterior": [],
    }
    names = list(times)
    for _ in range(args.requests):
        user = f"u{int(rng.integers(0, args.users))}"
        for filtered in (False, True):
            request = engine.ranker.request(engine.models, engine.states.get(user), user)
            if filtered:
                request.restrict(half)
            quotas = category_quotas(request, n)
            assert quotas is not None
            t0 = time.perf_counter()
            found = source.candidates(request, n)
            t1 = time.perf_counter()
            pools = [scanned_top(request, c, w) for c, w in zip(*quotas, strict=True)]
            t2 = time.perf_counter()
            assert found is not None and found.tolist() == np.concatenate(pools).tolist()
            scan, head = names[2 * filtered], names[2 * filtered + 1]
            times[scan].append((t2 - t1) * 1e6)
            times[head].append((t1 - t0) * 1e6)
        request = engine.ranker.request(engine.models, engine.states.get(user), user)
        t0 = time.perf_counter()
        category_posterior(request)
        times["category posterior"].append((time.perf_counter() - t0) * 1e6)
    print(f"{args.items:,} items, 100 categories, {args.users:,} users, {args.requests} requests\n")
    print(micro_table(times, names[0], "pass over each category (unfiltered)"))


if __name__ == "__main__":
    main()
