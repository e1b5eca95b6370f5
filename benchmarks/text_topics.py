"""What grouping the items without a category by their text costs a refit.

    python benchmarks/text_topics.py [--items 16000 30000 100000] [--dim 512] [--repeats 3]

Unit vectors drawn around 300 centres stand for the text vectors; for each catalog size,
``fit_text_topics`` (k-means on at most 20,000 of them into the square root of their
number of groups, then every item assigned) and, as a baseline in the same run, one pass
that assigns every item to 100 fixed centres (the work an upsert does, for the whole
catalog at once). Medians of ``--repeats`` runs, in seconds, and their ratio.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from pulserec.engine.texttopics import TextTopics, fit_text_topics, topic_count


def vectors(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    centres = rng.standard_normal((300, dim)).astype(np.float32)
    x = centres[rng.integers(0, 300, n)] + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def timed(fn: Callable[[], object], repeats: int) -> float:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return float(np.median(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, nargs="*", default=[16_000, 30_000, 100_000])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print("| items | groups | fit_text_topics, s | assign to 100 centres, s | ratio |")
    print("|---:|---:|---:|---:|---:|")
    for n in args.items:
        x = vectors(n, args.dim, rng)
        fixed = TextTopics(x[rng.choice(n, 100, replace=False)].copy())
        fit = timed(lambda x=x: fit_text_topics(x, 0), args.repeats)
        base = timed(lambda x=x, fixed=fixed: fixed.assign(x), args.repeats)
        print(f"| {n:,} | {topic_count(n)} | {fit:.2f} | {base:.3f} | {fit / base:.0f}× |")


if __name__ == "__main__":
    main()
