"""Memory and time of a worker's refit per event of the log.

    python benchmarks/refit_memory.py --users 20000

A generated log (the shop-like shape at ``--users`` users and as many items, 400 topics,
a median of nine events a user: about ten events a user) is appended to an in-memory
engine, which then refits without the transformer (``Engine.train``, as the worker does).
Prints the process's resident memory before the refit, its peak during it, and the peak's
growth per event of the log.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

from pulserec.catalog import Catalog
from pulserec.engine import Engine, EngineConfig
from pulserec.evaluation.replay import to_events
from pulserec.evaluation.synthetic import load_synthetic


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as f:
        return int(f.read().split("VmRSS:")[1].split()[0]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=20_000)
    args = parser.parse_args()
    ds = load_synthetic(
        preset="shop-like", n_users=args.users, n_items=args.users, n_topics=400,
        events_median=9.0,
    )  # fmt: skip
    engine = Engine(config=EngineConfig(sequential=False, als_regularization=20.0))
    engine.upsert_items(list(Catalog.from_frame(ds.items)))
    events = list(to_events(ds.events))
    n_events = len(events)
    del ds
    engine.bootstrap(events)
    del events
    before = rss_mb()
    t0 = time.perf_counter()
    engine.train()
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{n_events:,} events: {before:.0f} MB before the refit (log held), peak {peak:.0f} MB "
          f"during it, {(peak - before) * 2**20 / n_events:,.0f} bytes per event; refit "
          f"{seconds:.0f} s, {seconds / n_events * 1000:.2f} ms per event")  # fmt: skip


if __name__ == "__main__":
    main()
