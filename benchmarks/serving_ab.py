"""The serving work removed per request, timed in one process: before and after, in turns.

    python benchmarks/serving_ab.py --items 100000 --users 20000 --requests 2000

The engine and models of ``benchmarks/engine.py --sequential`` (synthetic catalog,
transformer over the whole catalog) are built once; requests then alternate in blocks
between the engine as it is and the engine with the per-request work of the code before
restored (``before``'s monkeypatches: one search per source however alike the queries,
``np.isin`` for the seen items and the repeat bias, the transformer's item vectors through
their masks, no factor-candidate cache, trending top lists recomputed over the whole
catalog). Both see the same machine, so a busy one
stretches both. Each timed user sends an event and reads (after an event), reads again
(repeated read) and sends a second event and reads (next event: the factor source's
candidates are kept from the first read).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable
from contextlib import contextmanager
from typing import Any

import numpy as np

from engine import ab_setup, baseline_ms, percentiles
from pulserec.engine import Engine
from pulserec.engine.arrays import top_indices
from pulserec.engine.rank import Ranker
from pulserec.engine.sequential import ItemVectors, UserScores
from pulserec.engine.sources.base import Request
from pulserec.engine.trending import Trending
from pulserec.index.base import VectorIndex
from pulserec.state.base import UserState
from pulserec.types import Event


def _search_each(self: Request, index: VectorIndex, query: np.ndarray, n: int) -> np.ndarray:
    return self._search(index, np.asarray(query, np.float32)[None], n)


def _allowed_isin(
    self: Ranker, cands: np.ndarray, state: UserState | None, category: str | None,
    exclude: Iterable[str], exclude_seen: bool, seen: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    catalog = self.items.catalog
    mask = np.ones(len(cands), dtype=bool)
    if exclude_seen and seen is not None:
        mask &= ~np.isin(cands, seen)
    elif exclude_seen and state is not None and state.seen:
        mask &= ~np.isin(cands, state.seen_items())
    banned = list(self.items.deleted)
    ex = [e for e in exclude if e in catalog]
    if ex:
        banned += catalog.id_map.lookup(ex).tolist()
    if banned:
        mask &= ~np.isin(cands, np.asarray(banned, dtype=np.int64))
    if category is not None:
        in_category = self.items.properties.column("categories").contains([category])
        ok = cands < len(in_category)
        ok[ok] = in_category[cands[ok]]
        mask &= ok
    return mask


def _at_isin(self: UserScores, rows: np.ndarray) -> np.ndarray:
    vecs, has = self.item_vectors.vectors(rows)
    raw = vecs @ self.state
    if self.item_vectors.bias:
        raw[np.isin(rows, self.sequence)] += self.item_vectors.bias
    out = ((raw - self.mean) / self.std).astype(np.float32)
    if not has.all():
        out[~has] = min(-3.0, float(out[has].min())) if has.any() else -3.0
    return out  # type: ignore[no-any-return]


def _top_whole(
    self: Trending, n: int, n_items: int, previous: object
) -> tuple[np.ndarray, bool]:
    return top_indices(self.scores(n_items), n), False


@contextmanager
def before(engine: Engine) -> Any:
    """The per-request work of the code before, for the duration of the block."""
    saved: list[tuple[Any, str, Any]] = [
        (Request, "search", Request.search),
        (Ranker, "allowed", Ranker.allowed),
        (UserScores, "at", UserScores.at),
        (Trending, "_top_n", Trending._top_n),
    ]
    Request.search = _search_each  # type: ignore[method-assign]
    Ranker.allowed = _allowed_isin  # type: ignore[method-assign]
    UserScores.at = _at_isin  # type: ignore[method-assign]
    Trending._top_n = _top_whole  # type: ignore[method-assign]
    vectors: list[ItemVectors] = engine.sequential._vectors
    wholes = [v.whole for v in vectors]
    for v in vectors:
        v.whole = False
    cache, kept = engine.factor_cache, engine.factor_cache.max_users
    cache.max_users = 0
    try:
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)
        for v, whole in zip(vectors, wholes, strict=True):
            v.whole = whole
        cache.max_users = kept


def main() -> None:
    args, engine, rng, ts = ab_setup(argparse.ArgumentParser())
    n_items, n_users = args.items, args.users

    kinds = ("after an event", "repeated read", "next event")
    samples: dict[str, dict[str, list[float]]] = {
        mode: {kind: [] for kind in kinds} for mode in ("before", "after")
    }

    def block(into: dict[str, list[float]]) -> None:
        nonlocal ts
        engine.factor_cache.serve(engine.models)  # each block starts with nothing kept
        for _ in range(args.requests // args.blocks):
            u = f"u{int(rng.integers(0, n_users))}"
            for kind in kinds:
                if kind != "repeated read":
                    ts += 1
                    engine.ingest(Event(u, f"i{int(rng.integers(0, n_items))}", "click", ts))
                t0 = time.perf_counter()
                engine.recommend(u, 10)
                into[kind].append(time.perf_counter() - t0)

    for j in range(args.blocks):
        order = ("before", "after") if j % 2 == 0 else ("after", "before")
        for mode in order:
            if mode == "before":
                with before(engine):
                    block(samples[mode])
            else:
                block(samples[mode])

    base_ms = baseline_ms(rng, args.requests)
    print(f"baseline (1k-dot) {base_ms:.4f} ms")
    print("| request, 100k items, transformer | before p50 / p99 ms | after p50 / p99 ms "
          "| p50 after ÷ before | p50 ÷ baseline, before → after |")  # fmt: skip
    print("|---|---:|---:|---:|---:|")
    for kind in kinds:
        b50, b99 = percentiles(samples["before"][kind])
        a50, a99 = percentiles(samples["after"][kind])
        print(f"| {kind} | {b50:.2f} / {b99:.2f} | {a50:.2f} / {a99:.2f} | {a50 / b50:.2f} "
              f"| {b50 / base_ms:.0f}× → {a50 / base_ms:.0f}× |")  # fmt: skip


if __name__ == "__main__":
    main()
