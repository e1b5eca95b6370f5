"""The approximate index the engine searches at 100k items: an HNSW graph against
inverted lists (IVF-Flat), by recall, search time, build time and the lists users get.

    python benchmarks/ann_index.py --items 100000 --users 20000 --requests 1000 \\
        --indexes hnsw:256 hnsw:128 ivf:32 ivf:16

The engine and models of ``benchmarks/engine.py --sequential`` are built once (clustered
64-d item factors, a transformer fitted for one epoch). Each index named by
``--indexes`` (``hnsw:EF`` an HNSW graph, M 32, at that ``efSearch``;
``ivf:PROBES[@RECALL]`` inverted lists of about 200 vectors, probing at least ``n_probe``
cells, more where its calibration asks for them to reach that recall, by default the
engine's) is built over the same vectors
for both of the request's moving searches, the factor index and the transformer's, and
put in a copy of the model set; an exact-search copy is the reference.

Printed, per index: build seconds (both indexes); for the queries the requests asked,
recall@100 against exact search (of the factor index's queries and of the transformer's)
and ms per search (one query, one thread); the share of
each top 10 in common with the exact-search list and the share of identical lists; and
the whole request after an event (the user sends an event, then is ranked: the first
visit, as ``engine.py``'s after-event row), p50 / p99 in blocks that alternate between
the indexes so that each sees the same machine. Baseline: one 64-d dot product with
1,000 vectors, measured in the same run.

With ``--fitted`` only the indexes are compared, over the vectors of models fitted as a
refit fits them on the 1M-event generated shop of ``benchmarks/sequential_train.py
--synthetic`` (the factor model, and the transformer for 4 epochs at most), users'
factor vectors and hidden states as queries: the geometry of fitted models, which the
engine benchmark's random user vectors and one-epoch transformer lack (a search's cost
and recall depend on it). With ``--dead N ...`` it times searches with that many dead
nodes (keys replaced since the build), as the index skips them now (a selector of the
live nodes) and as it did before (fetching past them).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from engine import baseline_ms, warm_engine
from pulserec.config import DEFAULT_SEED
from pulserec.engine import ModelSet
from pulserec.engine.sources.base import Request
from pulserec.index import ApproximateIndex, ExactIndex, HNSWIndex, IVFIndex, VectorIndex
from pulserec.types import Event

Lists = list[list[str]]


def make_index(spec: str, dim: int) -> VectorIndex:
    kind, _, value = spec.partition(":")
    if kind == "hnsw":
        return HNSWIndex(dim, ef_search=int(value or 256), exact_threshold=0)
    if kind == "ivf":
        probes, _, target = value.partition("@")
        index = IVFIndex(dim, n_probe=int(probes or 32), exact_threshold=0)
        if target:
            index.recall_target = float(target)
        return index
    if kind == "exact":
        return ExactIndex(dim)
    raise ValueError(f"--indexes: expected hnsw:EF, ivf:PROBES[@RECALL] or exact, got {spec!r}")


def rebuilt(index: ApproximateIndex, spec: str) -> tuple[VectorIndex, float]:
    """A new index of kind ``spec`` over ``index``'s live vectors, and its build seconds."""
    keys = np.fromiter(index._exact._slot.keys(), dtype=np.int64)
    vectors = index._exact.vectors(keys)
    out = make_index(spec, index.dim)
    t0 = time.perf_counter()
    out.add(keys, vectors)
    return out, time.perf_counter() - t0


def with_indexes(models: ModelSet, spec: str) -> tuple[ModelSet, float]:
    """A copy of ``models`` whose factor and transformer indexes are of kind ``spec``."""
    assert models.seq_space is not None
    cf, a = rebuilt(models.cf_index, spec)
    seq, b = rebuilt(models.seq_space.index, spec)
    space = replace(models.seq_space, index=seq)
    return replace(models, cf_index=cf, seq_space=space), a + b  # type: ignore[arg-type]


def probed(index: object) -> str:
    """Cells an IVF index probes (chosen at its build), else a dash."""
    return str(index.probes) if isinstance(index, IVFIndex) else "-"


def compare(a: Lists, b: Lists) -> tuple[float, float]:
    """Mean share of items in common, share of identical lists."""
    common = np.mean([len(set(x) & set(y)) / max(len(x), 1) for x, y in zip(a, b, strict=True)])
    same = np.mean([x == y for x, y in zip(a, b, strict=True)])
    return float(common), float(same)


def dead_table(specs: list[str], n: int, seed: int, dead: list[int], n_queries: int = 300) -> None:
    """Search time with dead nodes (keys replaced since the build): through the selector of
    live nodes the index searches with now, against fetching ``k`` + dead results from the
    structure and dropping the dead ones (how searches skipped them before)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((100, 64))
    x = (centres[rng.integers(0, 100, n)] + 0.6 * rng.standard_normal((n, 64))).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    queries = x[rng.integers(0, n, (n_queries, 5))].sum(axis=1)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    print(f"{n:,} clustered 64-d vectors, top 100, {n_queries} queries, one thread; ms p50 / p99")
    print("| index | dead nodes | selector of live nodes (now) | fetch past the dead (before) |")
    print("|---|---:|---:|---:|")
    for spec in specs:
        index = make_index(spec, 64)
        assert isinstance(index, ApproximateIndex)
        index.add(np.arange(n), x)
        for count in dead:
            replace_keys = np.arange(count - index._dead)  # replaced: their old nodes die
            index.add(replace_keys, x[replace_keys])
            assert index._dead == count, "rebuilt: fewer dead nodes than asked for"
            now, before = [], []
            for q in queries:
                t0 = time.perf_counter()
                index.search(q[None], 100)
                now.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                _, nodes = index._graph.search(q[None], 100 + count)  # type: ignore[attr-defined]
                live = nodes[0][nodes[0] >= 0]
                index._node_key[live][index._node_key[live] >= 0][:100]
                before.append(time.perf_counter() - t0)
            a, b = np.asarray(now) * 1000, np.asarray(before) * 1000
            print(f"| {spec} | {count:,} | {np.median(a):.3f} / {np.percentile(a, 99):.3f} "
                  f"| {np.median(b):.3f} / {np.percentile(b, 99):.3f} |", flush=True)  # fmt: skip


FITTED = ("ALS factors", "transformer")


def fitted_vectors(
    seed: int, n_queries: int, save: Path | None = None
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Item vectors and queries of the models a refit fits, on the 1M-event generated
    shop of ``benchmarks/sequential_train.py --synthetic`` (100k users, 100k items, 400
    topics): the factor model (ALS, the engine's settings; unit item vectors, users' factor
    vectors as queries) and the transformer (the engine's settings, 4 epochs at most, the
    hashing encoder's text; its serving table, users' hidden states as queries)."""
    import torch

    from pulserec.catalog.idmap import IdMap
    from pulserec.config import get_settings
    from pulserec.engine.arrays import unit_rows
    from pulserec.evaluation.synthetic import load_synthetic
    from pulserec.events.export import positive_events
    from pulserec.events.interactions import Interactions
    from pulserec.models.content import item_texts_for
    from pulserec.models.factor import ALS
    from pulserec.models.sequential import SequentialTransformer
    from pulserec.text import make_encoder

    torch.set_num_threads(1)
    ds = load_synthetic(preset="shop-like", n_users=100_000, n_items=100_000, n_topics=400,
                        events_median=9.0)  # fmt: skip
    settings = get_settings().engine
    cfg = settings.to_engine_config()
    inter = Interactions.from_events(positive_events(ds.events), IdMap(), IdMap())
    rng = np.random.default_rng(seed)
    users = rng.choice(inter.n_users, n_queries, replace=False)
    als = ALS(
        n_factors=cfg.n_factors, regularization=cfg.als_regularization, alpha=cfg.als_alpha,
        n_epochs=cfg.als_epochs, random_state=seed,
    ).fit(inter)  # fmt: skip
    factors = unit_rows(np.asarray(als.item_factors_, dtype=np.float32))
    found = [(FITTED[0], factors, np.asarray(als.user_factors_, np.float32)[users])]
    text = make_encoder("hashing").encode(item_texts_for(ds.items, inter.items.to_list()))
    params = {**settings.sequential_params, "n_epochs": 4, "patience": 2, "random_state": seed}
    model = SequentialTransformer(**params).fit(inter.with_item_vectors(text))
    if save is not None:
        model.save(save)
    order = np.lexsort((inter.timestamp, inter.user_idx))
    user_idx, item_idx = np.asarray(inter.user_idx)[order], np.asarray(inter.item_idx)[order]
    starts = np.searchsorted(user_idx, users)
    ends = np.searchsorted(user_idx, users, side="right")
    seqs = [item_idx[a:b].tolist() for a, b in zip(starts, ends, strict=True)]
    states = model.sequence_states(seqs)
    table = np.ascontiguousarray(model.serving_table(), dtype=np.float32)
    found.append((FITTED[1], table, np.asarray(states, np.float32)))
    return found


def fitted_table(
    specs: list[str], seed: int, n_queries: int, cache: Path | None, save: Path | None = None
) -> None:
    """Build, cells probed, recall@100 and search time of each index over fitted vectors
    (read from ``cache`` where it exists, else fitted and written there; the transformer
    saved to ``save`` when it is fitted)."""
    if cache is not None and cache.exists():
        with np.load(cache) as saved:
            sets = [(n, saved[f"{n}:items"], saved[f"{n}:queries"]) for n in FITTED]
    else:
        sets = fitted_vectors(seed, n_queries, save)
        if cache is not None:
            np.savez(cache, **{f"{n}:{part}": a for n, i, q in sets
                               for part, a in (("items", i), ("queries", q))})  # fmt: skip
    for name, items, queries in sets:
        keys = np.arange(len(items))
        exact = ExactIndex(items.shape[1])
        exact.add(keys, items)
        truth = [exact.search(q[None], 100)[0][0] for q in queries]
        print(f"{name} of the 1M-event generated shop: {len(items):,} items, {n_queries:,} "
              "users' queries, top 100, one thread")  # fmt: skip
        print("| index | build s | cells probed | recall@100 | ms per search p50 / p99 |")
        print("|---|---:|---:|---:|---:|")
        for spec in specs:
            index = make_index(spec, items.shape[1])
            t0 = time.perf_counter()
            index.add(keys, items)
            build = time.perf_counter() - t0
            took, recall = [], []
            for q, want in zip(queries, truth, strict=True):
                t0 = time.perf_counter()
                got = index.search(q[None], 100)[0][0]
                took.append(time.perf_counter() - t0)
                recall.append(len(set(got.tolist()) & set(want.tolist())) / 100)
            ms = np.asarray(took) * 1000
            print(f"| {spec} | {build:.1f} | {probed(index)} | {np.mean(recall):.3f} | "
                  f"{np.median(ms):.3f} / {np.percentile(ms, 99):.3f} |", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument(
        "--indexes", nargs="+", default=["hnsw:256", "hnsw:128", "ivf:32", "ivf:16"]
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--fitted", action="store_true",
        help="Only the indexes, over the factors and the transformer fitted on the "
        "1M-event generated shop.",
    )  # fmt: skip
    parser.add_argument(
        "--vectors", type=Path, default=None,
        help="With --fitted: an .npz of the fitted vectors, read if it exists, else written.",
    )  # fmt: skip
    parser.add_argument(
        "--save-transformer", type=Path, default=None,
        help="With --fitted: save the fitted transformer there (benchmarks/engine.py "
        "--transformer serves it).",
    )  # fmt: skip
    parser.add_argument(
        "--dead", type=int, nargs="+", default=None,
        help="Only search time with this many dead nodes (replaced keys), on --items "
        "clustered vectors.",
    )  # fmt: skip
    args = parser.parse_args()
    if args.dead:
        import faiss

        faiss.omp_set_num_threads(1)  # as the engine serves
        dead_table(args.indexes, args.items, args.seed, args.dead)
        return
    if args.fitted:
        import faiss

        faiss.omp_set_num_threads(1)  # as the engine serves
        fitted_table(args.indexes, args.seed, 2000, args.vectors, args.save_transformer)
        return
    rng = np.random.default_rng(args.seed)
    engine, _, served, ts = warm_engine(args.items, args.users, args.seed, rng)
    sets: dict[str, ModelSet] = {}
    build_s: dict[str, float] = {}
    for spec in [*args.indexes, "exact"]:
        sets[spec], build_s[spec] = with_indexes(served, spec)
    for models in sets.values():  # first calls: each set's transformer item vectors
        engine.models = models
        for _ in range(20):
            engine.recommend(f"u{int(rng.integers(0, args.users))}", 10)

    real = Request.search
    asked: list[tuple[int, np.ndarray, int]] = []  # (which index, query, n)

    def recorded(self: Request, index: VectorIndex, query: np.ndarray, n: int) -> np.ndarray:
        ref = sets["exact"]
        for which, one in enumerate((ref.cf_index, ref.seq_space.index)):  # type: ignore[union-attr]
            if index is one:
                asked.append((which, np.asarray(query, np.float32).copy(), n))
        return real(self, index, query, n)

    # the lists: every index ranks the same user in the same state
    lists: dict[str, Lists] = {spec: [] for spec in sets}
    for _ in range(args.requests):
        user = f"u{int(rng.integers(0, args.users))}"
        ts += 1
        engine.ingest(Event(user, f"i{int(rng.integers(0, args.items))}", "click", ts))
        for spec, models in sets.items():
            engine.models = models
            engine.factor_cache.serve(models)  # every index searches for itself
            if spec == "exact":
                Request.search = recorded  # type: ignore[method-assign]
            lists[spec].append([s.item_id for s in engine.recommend(user, 10).items])
            Request.search = real  # type: ignore[method-assign]

    # the request after an event, in blocks alternating between the indexes
    timed: dict[str, list[float]] = {spec: [] for spec in args.indexes}
    per_block = max(1, args.requests // args.blocks)
    for block in range(args.blocks):
        order = args.indexes if block % 2 == 0 else list(reversed(args.indexes))
        for spec in order:
            models = sets[spec]
            engine.models = models
            engine.factor_cache.serve(models)
            for _ in range(per_block):
                user = f"u{int(rng.integers(0, args.users))}"
                ts += 1
                engine.ingest(Event(user, f"i{int(rng.integers(0, args.items))}", "click", ts))
                t0 = time.perf_counter()
                engine.recommend(user, 10)
                timed[spec].append(time.perf_counter() - t0)
    engine.models = served
    base = baseline_ms(rng, 2000)

    print(f"{args.items:,} items, {args.users:,} users, {args.requests} users ranked per index; "
          f"baseline {base:.4f} ms")  # fmt: skip
    print(
        "| index | build s (both) | cells probed | recall@100, factors / transformer | "
        "ms per search p50 / "
        "p99 | top 10 in common with exact | identical to exact | after an event p50 / p99 ms "
        "| p50 ÷ baseline |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for spec, models in sets.items():
        common, same = compare(lists[spec], lists["exact"])
        recall: tuple[list[float], list[float]] = ([], [])
        took = []
        indexes = (models.cf_index, models.seq_space.index)  # type: ignore[union-attr]
        exact = (sets["exact"].cf_index, sets["exact"].seq_space.index)  # type: ignore[union-attr]
        for which, q, n in asked:
            t0 = time.perf_counter()
            got = indexes[which].search(q[None], n)[0][0]
            took.append(time.perf_counter() - t0)
            truth = exact[which].search(q[None], n)[0][0]
            recall[which].append(len(set(got.tolist()) & set(truth.tolist())) / n)
        ms = np.asarray(took) * 1000
        request = np.asarray(timed.get(spec, [])) * 1000
        after = (
            f"{np.median(request):.2f} / {np.percentile(request, 99):.2f} "
            f"| {np.median(request) / base:.0f}×"
            if len(request)
            else "- | -"
        )
        cf_recall, seq_recall = (float(np.mean(r)) for r in recall)
        cells = f"{probed(indexes[0])} / {probed(indexes[1])}"
        print(f"| {spec} | {build_s[spec]:.1f} | {cells} | {cf_recall:.3f} / {seq_recall:.3f} | "
              f"{np.median(ms):.3f} / {np.percentile(ms, 99):.3f} | {common:.3f} | {same:.3f} "
              f"| {after} |")  # fmt: skip


if __name__ == "__main__":
    main()
