"""Recommend latency with filter expressions at 100k items.

    python benchmarks/filters.py --items 100000 --users 20000 --requests 1000

The engine of ``benchmarks/engine.py`` (clustered 64-d item factors in the vector index
a refit builds, 50 co-visitation neighbours per item, known users with 20 live events
each) over a
catalog whose items carry a ``bucket`` number (uniform in 0..999), a ``brand``, a
``stock`` flag and a ``created_at``. Each filter lets through a known share of the
catalog; they are timed interleaved in blocks with the unfiltered call, so every row
sees the same machine. Every filtered list must be full (k items) and every item must
pass the filter (checked on each call). Target: p99 < 5 ms for each share.

The boost row adds ``0.1 * (item.brand == 'b3') + 0.01 * item.stock`` to the unfiltered
call, and the user-context row asks for ``item.brand in user.recent_brand`` (its share
is the mean over 200 users: ten brands, so a user's latest items name most of them).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from engine import percentiles, synthetic_models
from pulserec.config import DEFAULT_SEED, get_settings
from pulserec.engine import Engine
from pulserec.types import Event, Item

SHARES = {"100%": "item.bucket >= 0", "10%": "item.bucket < 100",
          "1%": "item.bucket < 10", "0.1%": "item.bucket < 1"}  # fmt: skip
EXTRA = {
    "10%, with now() and a bool": "item.bucket < 100 and item.stock and "
    "item.created_at > now() - 3650d",
    "user context": "item.brand in user.recent_brand",
}
BOOST = "0.1 * (item.brand == 'b3') + 0.01 * item.stock"


def build(n_items: int, n_users: int, seed: int) -> tuple[Engine, np.ndarray]:
    rng = np.random.default_rng(seed)
    engine = Engine(config=get_settings().engine.to_engine_config())
    bucket = rng.integers(0, 1000, n_items)
    brand = rng.integers(0, 10, n_items)
    engine.upsert_items(
        [Item(f"i{j}", created_at=1_600_000_000.0 + j,
              attributes={"bucket": int(bucket[j]), "brand": f"b{brand[j]}",
                          "stock": bool(j % 4)})
         for j in range(n_items)]
    )  # fmt: skip
    engine.swap(synthetic_models(n_items, n_users, seed))
    ts = 1_700_000_000.0
    batch = []
    for u, i in zip(rng.integers(0, n_users, 20 * n_users).tolist(),
                    rng.integers(0, n_items, 20 * n_users).tolist(), strict=True):  # fmt: skip
        ts += 0.01
        batch.append(Event(f"u{u}", f"i{i}", "click", ts))
        if len(batch) == 1000:
            engine.ingest_many(batch, durable=False)
            batch = []
    return engine, bucket


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()
    engine, bucket = build(args.items, args.users, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    rows: dict[str, dict[str, str | None]] = {
        "none (baseline)": {"filter": None, "boost": None},
        **{share: {"filter": text, "boost": None} for share, text in SHARES.items()},
        **{name: {"filter": text, "boost": None} for name, text in EXTRA.items()},
        "boost, no filter": {"filter": None, "boost": BOOST},
    }
    passes = {name: float(engine.items.expressions.mask(p["filter"]).mean())
              for name, p in rows.items() if p["filter"] and "user" not in p["filter"]}  # fmt: skip
    for name, p in rows.items():  # a filter on the user's context: its mean share over users
        if p["filter"] and "user." in p["filter"]:
            shares = []
            for j in range(200):
                user = f"u{j}"
                request = engine.ranker.request(None, engine.states.get(user), user)
                view = engine.ranker.user_view(request)
                shares.append(engine.items.expressions.mask(p["filter"], view).mean())
            passes[name] = float(np.mean(shares))
    samples: dict[str, list[float]] = {name: [] for name in rows}
    short: dict[str, int] = dict.fromkeys(rows, 0)
    for params in rows.values():  # warm the caches (compiled expressions, masks)
        engine.recommend("u0", args.k, **params)  # type: ignore[arg-type]
    blocks = 10
    for _ in range(blocks):
        for name, params in rows.items():
            for _ in range(args.requests // blocks):
                user = f"u{int(rng.integers(0, args.users))}"
                t0 = time.perf_counter()
                rec = engine.recommend(user, args.k, **params)  # type: ignore[arg-type]
                samples[name].append(time.perf_counter() - t0)
                if len(rec.items) < args.k:
                    short[name] += 1
                text = params["filter"]
                if text in SHARES.values():
                    limit = {"item.bucket >= 0": 1000, "item.bucket < 100": 100,
                             "item.bucket < 10": 10, "item.bucket < 1": 1}[text]  # fmt: skip
                    got = bucket[[int(s.item_id[1:]) for s in rec.items]]
                    assert (got < limit).all(), (name, got)
    print(f"{args.items} items, {args.users} users, k={args.k}, {args.requests} calls per row\n")
    print("| filter | passes | recommend p50 ms | recommend p99 ms | p50 ÷ unfiltered p50 "
          "| short lists |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|")
    base50, _ = percentiles(samples["none (baseline)"])
    for name, params in rows.items():
        p50, p99 = percentiles(samples[name])
        text = params["filter"] or params["boost"] or ""
        share = f"{passes[name]:.2%}" if name in passes else "-"
        print(f"| {name}: `{text}` | {share} | {p50:.2f} | {p99:.2f} | {p50 / base50:.2f} "
              f"| {short[name]} |")  # fmt: skip


if __name__ == "__main__":
    main()
