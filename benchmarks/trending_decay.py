"""Per-event cost of the live trending counts: decayed at each event, or kept at an anchor.

    python benchmarks/trending_decay.py --items 10000 100000 1000000

The engine counts every positive event into each of its trending scales
(:class:`pulserec.engine.live.LiveSignals`). The baseline decays every item's count to the
event's time before adding it (one pass over the catalog per event and scale, as the
engine did before); :class:`pulserec.engine.trending.Trending` keeps the counts at an
anchor time and grows the event's weight instead. Both count the same events, three
scales each (3 days, 1 hour, a year), in alternating blocks of one process; printed are
the median and 99th percentile per event (µs), the median read of 300 candidates' counts
(a request's features), and the largest difference of the two counts relative to the
largest count.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from pulserec.config import DEFAULT_SEED
from pulserec.engine.trending import Trending

HALF_LIVES = (3 * 86400.0, 3600.0, 365 * 86400.0)


class EagerTrending:
    """The baseline: every count decayed to the latest event's time at each event."""

    def __init__(self, half_life_s: float, n_items: int) -> None:
        self.rate = math.log(2.0) / half_life_s
        self.values = np.zeros(n_items)
        self.ref_ts = 0.0

    def add(self, item: int, ts: float) -> None:
        if ts > self.ref_ts:
            self.values *= math.exp(-self.rate * (ts - self.ref_ts))
            self.ref_ts = ts
        self.values[item] += math.exp(-self.rate * (self.ref_ts - ts))

    def at(self, items: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.values[items]
        return out


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(n_items: int, events: int, blocks: int, rng: np.random.Generator) -> dict[str, float]:
    eager = [EagerTrending(h, n_items) for h in HALF_LIVES]
    kept = [Trending(h) for h in HALF_LIVES]
    ts = 0.0
    for _ in range(2000):  # warm: both hold the same counts
        ts += float(rng.exponential(1.0))
        item = int(rng.zipf(1.2) % n_items)
        for e, k in zip(eager, kept, strict=True):
            e.add(item, ts)
            k.add(item, ts)
    add: dict[str, list[float]] = {"eager": [], "kept": []}
    read: dict[str, list[float]] = {"eager": [], "kept": []}
    cands = rng.choice(n_items, 300, replace=False)
    for _ in range(blocks):
        # one block of events, counted by both in turn
        times = ts + np.cumsum(rng.exponential(1.0, events // blocks))
        items = (rng.zipf(1.2, len(times)) % n_items).tolist()
        ts = float(times[-1])
        for name, scales in (("eager", eager), ("kept", kept)):
            for item, at_ts in zip(items, times.tolist(), strict=True):
                t0 = time.perf_counter()
                for s in scales:
                    s.add(item, at_ts)
                add[name].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                for s in scales:
                    s.at(cands)
                read[name].append(time.perf_counter() - t0)
    # the counts agree: the largest difference relative to the largest count
    diff = max(
        float(np.max(np.abs(k.scores(n_items) - e.values)) / e.values.max())
        for e, k in zip(eager, kept, strict=True)
    )
    us = 1e6
    return {
        "eager_p50": percentile(add["eager"], 0.5) * us,
        "eager_p99": percentile(add["eager"], 0.99) * us,
        "kept_p50": percentile(add["kept"], 0.5) * us,
        "kept_p99": percentile(add["kept"], 0.99) * us,
        "eager_read": percentile(read["eager"], 0.5) * us,
        "kept_read": percentile(read["kept"], 0.5) * us,
        "diff": diff,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(
        "| items | decayed per event: p50 / p99 µs | kept at an anchor: p50 / p99 µs "
        "| p50 ratio | read 300 counts, p50 µs: decayed / kept | largest difference |"
    )
    print("|---:|---|---|---:|---|---:|")
    for n in args.items:
        r = run(n, args.events, args.blocks, rng)
        print(
            f"| {n:,} | {r['eager_p50']:.1f} / {r['eager_p99']:.1f} "
            f"| {r['kept_p50']:.1f} / {r['kept_p99']:.1f} | {r['kept_p50'] / r['eager_p50']:.3f} "
            f"| {r['eager_read']:.1f} / {r['kept_read']:.1f} | {r['diff']:.1e} |"
        )


if __name__ == "__main__":
    main()
