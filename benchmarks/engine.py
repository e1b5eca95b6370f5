"""Serving speed of the real-time engine on a synthetic catalog.

    python benchmarks/engine.py --items 10000 100000 --users 100000

For each catalog size: a model set with clustered 64-d item factors, a
co-visitation graph (50 neighbours per item) and 100k known users is swapped
into an engine backed by the in-memory log; then

* ingest p50/p99: one event applied to a user's state (log append included),
* recommend p50/p99: top-10 for a user with a live state (candidates from
  ANN, co-visitation, factor model and trending; hybrid score; MMR off),
* events/s on one core: a tight single-threaded ingest loop,
* resident memory per active user: RSS growth over states of 100k users
  with 20 events each, divided by the number of users,
* with ``--sequential``: recommend p50/p99 again with a sequential transformer
  (default size: 64 factors, 2 layers, max_len 50) in the ranking, over the
  whole catalog, interleaved in blocks with the plain engine so that both see
  the same machine. The transformer is fitted for one epoch on the warm-up
  events of 2,000 users: its accuracy is irrelevant here, its cost per request
  is what is measured (it does not depend on how well it was trained). Its
  scores are cached per user between that user's events; the figures below are
  for users without a cached entry (each request follows an event of that user)
  and, separately, for repeated reads without an event in between and for the
  same user's next event (a user who comes back while the model set serves: the
  factor source's candidates are kept per user, the transformer runs again).

The catalog's items are bare ids, or with ``--described`` each in one of 100
categories with a publication time (the category and newest sources, the category and
recency features then run, as on a shop's catalog).

Timings are medians and 99th percentiles over ``--requests`` calls; the
``ratio`` column divides by a baseline measured in the same run (one
``numpy`` dot product of a 64-d query with 1,000 item vectors), so figures
from a busy machine stay comparable. Targets: ingest p99 < 0.5 ms,
recommend p99 < 5 ms at 100k items.
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from pulserec.catalog.idmap import IdMap
from pulserec.config import DEFAULT_SEED, get_settings
from pulserec.engine import Engine, ModelSet
from pulserec.engine.features import DEFAULT_WEIGHTS, NAMES
from pulserec.engine.modelset import vector_index
from pulserec.events.interactions import Interactions
from pulserec.models.base import Recommender
from pulserec.models.covisit import row_top_n
from pulserec.types import Event, Item

DIM = 64


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def synthetic_models(n_items: int, n_users: int, seed: int) -> ModelSet:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((100, DIM))
    topic = rng.integers(0, 100, n_items)
    item_f = (centres[topic] + 0.6 * rng.standard_normal((n_items, DIM))).astype(np.float32)
    unit = item_f / np.linalg.norm(item_f, axis=1, keepdims=True)
    user_f = (0.3 * rng.standard_normal((n_users, DIM))).astype(np.float32)
    # co-visitation: 50 neighbours per item, mostly within its topic
    rows = np.repeat(np.arange(n_items), 50)
    same = rng.random(len(rows)) < 0.8
    by_topic = np.argsort(topic, kind="stable")
    starts = np.searchsorted(topic[by_topic], np.arange(100))
    sizes = np.bincount(topic, minlength=100)
    t = topic[rows]
    within = by_topic[starts[t] + (rng.random(len(rows)) * sizes[t]).astype(np.int64)]
    cols = np.where(same, within, rng.integers(0, n_items, len(rows)))
    cov = sp.csr_matrix((rng.random(len(rows)), (rows, cols)), shape=(n_items, n_items))
    cov = row_top_n(cov, 50).astype(np.float32)
    cov.sort_indices()
    index = vector_index(unit, get_settings().engine.exact_threshold)  # as a refit builds it
    users = IdMap(f"u{j}" for j in range(n_users))
    pop = rng.zipf(1.5, n_items).astype(np.float32)
    return ModelSet(
        "synthetic", users, n_items, user_f, item_f, unit, cov, pop,
        DEFAULT_WEIGHTS.copy(), index, time.time(), features=NAMES,
    )  # fmt: skip


def catalog(n_items: int, described: bool, seed: int) -> list[Item]:
    """``n_items`` bare items, or (``described``) each in one of 100 categories and
    published at a time over the year before the events, as a shop's catalog: the
    ``category`` and ``newest`` sources and the category and recency features then run."""
    if not described:
        return [Item(f"i{j}") for j in range(n_items)]
    rng = np.random.default_rng(seed + 1)
    cats = rng.integers(0, 100, n_items).tolist()
    published = (1_700_000_000.0 - rng.random(n_items) * 365 * 86400.0).tolist()
    return [Item(f"i{j}", categories=(f"c{c}",), created_at=t)
            for j, (c, t) in enumerate(zip(cats, published, strict=True))]  # fmt: skip


def micro_table(times: dict[str, list[float]], baseline: str, label: str) -> str:
    """A markdown table of each part's median and 99th percentile (``times`` in µs) and
    its median over the ``baseline`` part's, whose column is headed ``p50 ÷ label``."""
    base = statistics.median(times[baseline])
    lines = [f"| part | p50 µs | p99 µs | p50 ÷ {label} |", "|---|---:|---:|---:|"]
    for name, values in times.items():
        p50, p99 = statistics.median(values), float(np.percentile(values, 99))
        lines.append(f"| {name} | {p50:.1f} | {p99:.1f} | {p50 / base:.2f} |")
    return "\n".join(lines)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = sorted(s * 1000 for s in samples)
    return statistics.median(ms), ms[min(len(ms) - 1, int(0.99 * len(ms)))]


def baseline_ms(rng: np.random.Generator, n: int) -> float:
    """The benchmarks' yardstick, measured in the same run: the median ms of ``n`` dot
    products of a 64-d query with 1,000 vectors."""
    mat = rng.standard_normal((1000, DIM)).astype(np.float32)
    q = rng.standard_normal(DIM).astype(np.float32)
    took = []
    for _ in range(n):
        t0 = time.perf_counter()
        mat @ q
        took.append(time.perf_counter() - t0)
    return percentiles(took)[0]


def fit_transformer(events: list[Event], n_items: int, seed: int):  # type: ignore[no-untyped-def]
    """A transformer over ``n_items`` items, one epoch on ``events`` (cost, not accuracy)."""
    import pandas as pd

    from pulserec.models.sequential import SequentialTransformer

    frame = pd.DataFrame(
        {"user_id": [e.user_id for e in events], "item_id": [e.item_id for e in events],
         "timestamp": [e.timestamp for e in events]}
    )  # fmt: skip
    inter = Interactions.from_events(frame, IdMap(), IdMap(f"i{j}" for j in range(n_items)))
    return SequentialTransformer(n_epochs=1, patience=None, random_state=seed).fit(inter)


def warm_engine(
    n_items: int, n_users: int, seed: int, rng: np.random.Generator, described: bool = False
) -> tuple[Engine, ModelSet, ModelSet, float]:
    """An engine on :func:`synthetic_models` (over :func:`catalog`) whose users each have
    20 events in memory, its plain models, the same with a transformer fitted on 2,000
    users' events, and the time of the last event. The transformer's model set serves on
    return."""
    engine = Engine(config=get_settings().engine.to_engine_config())
    engine.upsert_items(catalog(n_items, described, seed))
    engine.swap(synthetic_models(n_items, n_users, seed))
    ts = 1_700_000_000.0
    batch: list[Event] = []
    sample: list[Event] = []
    users = rng.integers(0, n_users, n_users * 20).tolist()
    for u, i in zip(users, rng.integers(0, n_items, len(users)).tolist(), strict=True):
        ts += 0.01
        batch.append(Event(f"u{u}", f"i{i}", "click", ts))
        if len(batch) == 1000:
            engine.ingest_many(batch, durable=False)
            sample += [e for e in batch if int(e.user_id[1:]) < 2000]
            batch = []
    plain = engine.models
    assert plain is not None
    with_seq = replace(plain, sequential=fit_transformer(sample, n_items, seed),
                       seq_items=np.arange(n_items))  # fmt: skip
    engine.models = with_seq
    return engine, plain, with_seq, ts


def ab_setup(
    parser: argparse.ArgumentParser,
) -> tuple[argparse.Namespace, Engine, np.random.Generator, float]:
    """The in-process A/B benchmarks' start: ``--items``, ``--users``, ``--requests``,
    ``--blocks`` and ``--seed`` added to ``parser`` and read, the :func:`warm_engine`
    (transformer serving) warmed up by 200 requests, its generator and latest time."""
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    engine, _, _, ts = warm_engine(args.items, args.users, args.seed, rng)
    for _ in range(200):  # warm-up: first calls, the transformer's item vectors
        engine.recommend(f"u{int(rng.integers(0, args.users))}", 10)
    return args, engine, rng, ts


def torch_forward_copy(model):  # type: ignore[no-untyped-def]
    """A shallow copy of a fitted transformer whose ``sequence_states`` runs the torch
    network on the sequence padded to ``max_len`` (the serving path before numpy)."""
    import copy

    from pulserec.models.sequential import pad_last

    old = copy.copy(model)

    def sequence_states(sequences):  # type: ignore[no-untyped-def]
        cleaned = [np.asarray(list(s), dtype=np.int64) for s in sequences]
        cleaned = [a[(a >= 0) & (a < model.n_items_)] for a in cleaned]
        return model._states_fast(pad_last(cleaned, model.max_len))

    old.sequence_states = sequence_states
    return old


def run(
    n_items: int,
    n_users: int,
    requests: int,
    seed: int,
    sequential: bool = False,
    torch_forward: bool = False,
    transformer: Path | None = None,
    described: bool = False,
) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    engine = Engine(config=get_settings().engine.to_engine_config())
    engine.upsert_items(catalog(n_items, described, seed))
    t0 = time.perf_counter()
    engine.swap(synthetic_models(n_items, n_users, seed))
    build_s = time.perf_counter() - t0
    ts = 1_700_000_000.0

    # warm states: 100k users x 20 events, measuring RSS growth per user
    gc.collect()
    before = rss_mb()
    n_warm = n_users
    per_user = 20
    users = rng.integers(0, n_users, n_warm * per_user)
    items = rng.integers(0, n_items, n_warm * per_user)
    t0 = time.perf_counter()
    batch, sample = [], []
    for u, i in zip(users.tolist(), items.tolist(), strict=True):
        ts += 0.01
        batch.append(Event(f"u{u}", f"i{i}", "click", ts))
        if len(batch) == 1000:
            engine.ingest_many(batch, durable=False)
            sample += [e for e in batch if int(e.user_id[1:]) < 2000] if sequential else []
            batch = []
    warm_s = time.perf_counter() - t0
    gc.collect()
    mem_per_user_kb = (rss_mb() - before) * 1024 / len(engine.states)

    # single-event ingest latency (log append + state update)
    lat_ingest = []
    for _ in range(requests):
        u, i = int(rng.integers(0, n_users)), int(rng.integers(0, n_items))
        ts += 1
        ev = Event(f"u{u}", f"i{i}", "click", ts)
        t0 = time.perf_counter()
        engine.ingest(ev)
        lat_ingest.append(time.perf_counter() - t0)

    lat_rec = []
    for _ in range(requests):
        u = f"u{int(rng.integers(0, n_users))}"
        t0 = time.perf_counter()
        engine.recommend(u, 10)
        lat_rec.append(time.perf_counter() - t0)

    seq_rows: dict[str, float] = {}
    if sequential:
        plain = engine.models
        assert plain is not None
        t0 = time.perf_counter()
        model = fit_transformer(sample, n_items, seed) if transformer is None else None
        seq_rows["seq_fit_s"] = time.perf_counter() - t0
        seq_items = np.arange(n_items)
        if transformer is not None:  # a trained one: catalog item j is its item j
            model = Recommender.load(transformer)
            seq_items[seq_items >= model.n_items_] = -1  # type: ignore[attr-defined]
        with_seq = replace(plain, sequential=model, seq_items=seq_items)
        with_torch = replace(with_seq, sequential=torch_forward_copy(model))
        before: list[float] = []
        cold: list[float] = []
        warm: list[float] = []
        again: list[float] = []
        without: list[float] = []

        def event_then_reads(models: ModelSet, after_event: list[float],
                             repeated: list[float] | None = None,
                             next_event: list[float] | None = None) -> None:  # fmt: skip
            """Requests that each follow an event of that user (and, optionally, read again,
            and read after the same user's next event)."""
            nonlocal ts
            # no swap(): it would drop the warm states, which live only in memory here
            engine.models = models
            for _ in range(requests // 10):
                u = f"u{int(rng.integers(0, n_users))}"
                ts += 1
                engine.ingest(Event(u, f"i{int(rng.integers(0, n_items))}", "click", ts))
                for samples in (after_event, repeated):
                    if samples is not None:
                        t0 = time.perf_counter()
                        engine.recommend(u, 10)
                        samples.append(time.perf_counter() - t0)
                if next_event is not None:
                    ts += 1
                    engine.ingest(Event(u, f"i{int(rng.integers(0, n_items))}", "click", ts))
                    t0 = time.perf_counter()
                    engine.recommend(u, 10)
                    next_event.append(time.perf_counter() - t0)

        for _block in range(10):  # interleaved: both see the same machine
            event_then_reads(with_seq, cold, warm, again)
            event_then_reads(plain, without)
            if torch_forward:
                event_then_reads(with_torch, before)
        timed = [("seq", cold), ("seq_cached", warm), ("seq_next", again), ("plain", without)]
        for name, samples in timed + ([("seq_torch", before)] if torch_forward else []):
            p50, p99 = percentiles(samples)
            seq_rows[f"{name}_p50_ms"], seq_rows[f"{name}_p99_ms"] = p50, p99

    base50 = baseline_ms(rng, requests)
    ing50, ing99 = percentiles(lat_ingest)
    rec50, rec99 = percentiles(lat_rec)
    return {
        "items": n_items,
        "users": n_users,
        "build_s": build_s,
        "ingest_p50_ms": ing50,
        "ingest_p99_ms": ing99,
        "recommend_p50_ms": rec50,
        "recommend_p99_ms": rec99,
        "events_per_s": n_warm * per_user / warm_s,
        "mem_per_user_kb": mem_per_user_kb,
        "baseline_ms": base50,
        **seq_rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--sequential", action="store_true", help="Also time recommend with the transformer."
    )
    parser.add_argument(
        "--torch-forward",
        action="store_true",
        help="With --sequential: also the user's state through the torch network.",
    )
    parser.add_argument(
        "--transformer", type=Path, default=None,
        help="With --sequential: a saved, trained transformer (benchmarks/ann_index.py "
        "--fitted --save-transformer) instead of one fitted for an epoch on random events.",
    )  # fmt: skip
    parser.add_argument(
        "--described", action="store_true",
        help="Items in 100 categories with publication times (bare items otherwise).",
    )  # fmt: skip
    args = parser.parse_args()
    rows = [
        run(
            n,
            args.users,
            args.requests,
            args.seed,
            args.sequential,
            args.torch_forward,
            args.transformer,
            args.described,
        )
        for n in args.items
    ]
    print(
        "| items | users | ingest p50 ms | ingest p99 ms | recommend p50 ms | recommend p99 ms "
        "| events/s (1 core) | memory per user KB | baseline ms | recommend p50 / baseline |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['items']} | {r['users']} | {r['ingest_p50_ms']:.3f} | {r['ingest_p99_ms']:.3f} "
            f"| {r['recommend_p50_ms']:.2f} | {r['recommend_p99_ms']:.2f} "
            f"| {r['events_per_s']:.0f} | {r['mem_per_user_kb']:.1f} | {r['baseline_ms']:.4f} "
            f"| {r['recommend_p50_ms'] / r['baseline_ms']:.0f}× |"
        )

    if args.sequential:
        print(
            "\n| items | recommend p50 / p99 ms, plain | with transformer, after an event "
            "| with transformer, repeated read | with transformer, the user's next event "
            "| p50 with ÷ plain | p50 with ÷ baseline | transformer fit s |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print(
                f"| {r['items']} | {r['plain_p50_ms']:.2f} / {r['plain_p99_ms']:.2f} "
                f"| {r['seq_p50_ms']:.2f} / {r['seq_p99_ms']:.2f} "
                f"| {r['seq_cached_p50_ms']:.2f} / {r['seq_cached_p99_ms']:.2f} "
                f"| {r['seq_next_p50_ms']:.2f} / {r['seq_next_p99_ms']:.2f} "
                f"| {r['seq_p50_ms'] / r['plain_p50_ms']:.2f}× "
                f"| {r['seq_p50_ms'] / r['baseline_ms']:.0f}× | {r['seq_fit_s']:.0f} |"
            )
        if args.torch_forward:
            print("\n| items | after an event, numpy | torch (before) | p50 ratio |")
            print("|---:|---:|---:|---:|")
            for r in rows:
                print(
                    f"| {r['items']} | {r['seq_p50_ms']:.2f} / {r['seq_p99_ms']:.2f} "
                    f"| {r['seq_torch_p50_ms']:.2f} / {r['seq_torch_p99_ms']:.2f} "
                    f"| {r['seq_p50_ms'] / r['seq_torch_p50_ms']:.2f} |"
                )


if __name__ == "__main__":
    main()
