"""How far the engine's final lists move with the HNSW search list size (``efSearch``).

    python benchmarks/ef_search_lists.py --items 100000 --users 20000 --requests 1000

The engine and models of ``benchmarks/engine.py --sequential`` are built once; each timed
user sends an event and is ranked (top 10, transformer on) with the factor and transformer
indexes at every ``--ef`` value and with exact search, the same state each time. Printed:
the share of each list's items also in the list at ``efSearch`` 256 (the default) and in
the exact-search list, the share of lists identical to those, and each setting's recall@100
and time per search on the queries the sources asked.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from engine import warm_engine
from pulserec.config import DEFAULT_SEED
from pulserec.engine.sources.base import Request
from pulserec.index.base import VectorIndex
from pulserec.index.hnsw import HNSWIndex
from pulserec.types import Event

Lists = list[list[str]]


def compare(a: Lists, b: Lists) -> tuple[float, float]:
    """Mean share of items in common, share of identical lists."""
    common = np.mean([len(set(x) & set(y)) / max(len(x), 1) for x, y in zip(a, b, strict=True)])
    same = np.mean([x == y for x, y in zip(a, b, strict=True)])
    return float(common), float(same)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--ef", type=int, nargs="+", default=[256, 192, 128, 100])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()
    n_items, n_users = args.items, args.users
    rng = np.random.default_rng(args.seed)
    engine, _, models, ts = warm_engine(n_items, n_users, args.seed, rng)
    assert models.seq_space is not None
    indexes = [models.cf_index, models.seq_space.index]

    def set_ef(ef: int) -> None:
        for index in indexes:
            index._graph.hnsw.efSearch = ef  # type: ignore[attr-defined]

    real = Request.search
    asked: list[tuple[HNSWIndex, np.ndarray, int]] = []

    def exact(self: Request, index: VectorIndex, query: np.ndarray, n: int) -> np.ndarray:
        if isinstance(index, HNSWIndex):
            found: np.ndarray = index._exact.search(np.asarray(query, np.float32)[None], n)[0][0]
            return found
        return real(self, index, query, n)

    def recorded(self: Request, index: VectorIndex, query: np.ndarray, n: int) -> np.ndarray:
        if isinstance(index, HNSWIndex):
            asked.append((index, np.asarray(query, np.float32).copy(), n))
        return real(self, index, query, n)

    lists: dict[str, Lists] = {str(ef): [] for ef in args.ef}
    lists["exact"] = []
    for _ in range(args.requests):
        u = f"u{int(rng.integers(0, n_users))}"
        ts += 1
        engine.ingest(Event(u, f"i{int(rng.integers(0, n_items))}", "click", ts))
        for name in lists:
            engine.factor_cache.serve(models)  # every setting searches for itself
            if name == "exact":
                Request.search = exact  # type: ignore[method-assign]
            else:
                set_ef(int(name))
                if name == "256":
                    Request.search = recorded  # type: ignore[method-assign]
            lists[name].append([s.item_id for s in engine.recommend(u, 10).items])
            Request.search = real  # type: ignore[method-assign]
    set_ef(256)

    print(f"{args.requests} users, top 10, {n_items} items")
    print("| search | items in common with ef 256 | identical | items in common with exact "
          "| identical | recall@100 | ms per search p50 / p99 |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in lists:
        c256, s256 = compare(lists[name], lists["256"])
        cex, sex = compare(lists[name], lists["exact"])
        recall, took = [], []
        if name != "exact":
            set_ef(int(name))
            for index, q, n in asked:
                t0 = time.perf_counter()
                got = index.search(q[None], n)[0][0]
                took.append(time.perf_counter() - t0)
                truth = index._exact.search(q[None], n)[0][0]
                recall.append(len(set(got.tolist()) & set(truth.tolist())) / n)
            set_ef(256)
        ms = sorted(t * 1000 for t in took)
        timing = f"{ms[len(ms) // 2]:.3f} / {ms[int(0.99 * len(ms))]:.3f}" if ms else "-"
        label = "exact" if name == "exact" else f"efSearch {name}"
        print(f"| {label} | {c256:.3f} | {s256:.3f} | {cex:.3f} | {sex:.3f} "
              f"| {np.mean(recall) if recall else 1.0:.3f} | {timing} |")  # fmt: skip


if __name__ == "__main__":
    main()
