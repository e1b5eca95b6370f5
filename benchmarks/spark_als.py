"""The factor model fitted by implicit (in process) and by Spark MLlib: fit time and accuracy.

    python benchmarks/spark_als.py --data-dir ../shared/data/ml-latest-small --master 'local[2]' \
        --refit

Two data sets: ml-latest-small and a generated log of about 1M events over 100k items
(the shop-like shape with 100k users, 100k items, 400 topics and a median of nine events
a user). Protocol: random 8:1:1 split per user (seed 2026), full ranking over all items,
Recall@10 and NDCG@10 on the test part; the other parameters are the engine's (64
factors, 15 sweeps, alpha 2). On ml-latest-small each trainer's regularization is chosen
on the validation part from a three-value grid (implicit and Spark weigh it differently,
see ``pulserec.models.spark_als``) and ``fit s`` is the median of the grid's three fits;
the generated set is fitted once per trainer with the value chosen there (``--full-grid``
runs the grid on it too). Spark's session (JVM) is started before the first fit and its
start reported apart. On the generated set the metrics are means over a seeded sample of
``--eval-users`` test users, as scoring 100k users against 100k items would take longer
than the fits. ``--refit`` also times a whole engine refit (``Engine.train`` without the
transformer) of the generated log with each trainer.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from pulserec.config import DEFAULT_SEED, get_settings
from pulserec.evaluation import evaluate, random811, to_split_data
from pulserec.evaluation.splits import SplitData
from pulserec.evaluation.synthetic import load_synthetic
from pulserec.events import load_dataset
from pulserec.models.factor import ALS
from pulserec.models.spark_als import SparkALS, spark_session

SYNTHETIC = {
    "preset": "shop-like",
    "n_users": 100_000,
    "n_items": 100_000,
    "n_topics": 400,
    "events_median": 9.0,
}
"""The generated log: about 1M events, 100k items."""

GRIDS = {"implicit": [5.0, 20.0, 50.0], "spark": [0.03, 0.1, 0.3]}
"""Regularization values tried per trainer."""

DEFAULT_REG = {"implicit": 20.0, "spark": 0.1}
"""Regularization of a data set fitted without a grid when ml-latest-small did not run."""

COMMON = {"n_factors": 64, "alpha": 2.0, "n_epochs": 15, "random_state": 0}


def sample_users(data: SplitData, n_users: int, seed: int) -> SplitData:
    """The split with validation and test truth kept for a seeded sample of users only
    (all of them when ``n_users`` is 0 or not below their number)."""
    users = np.flatnonzero(np.diff(data.test.matrix.indptr) > 0)
    if not n_users or n_users >= len(users):
        return data
    keep = np.zeros(data.n_users, dtype=bool)
    keep[np.random.default_rng(seed).choice(users, n_users, replace=False)] = True
    mask = sp.diags(keep.astype(np.float32))

    def masked(part):  # type: ignore[no-untyped-def]
        return replace(part, matrix=sp.csr_matrix(mask @ part.matrix))

    return replace(data, valid=masked(data.valid), test=masked(data.test))


def run(
    name: str, data: SplitData, master: str, grids: dict[str, list[float]]
) -> list[dict[str, object]]:
    rows = []
    for trainer, grid in grids.items():
        fits = []
        for reg in grid:
            if trainer == "spark":
                model = SparkALS(regularization=reg, master=master, **COMMON)  # type: ignore[arg-type]
            else:
                model = ALS(regularization=reg, **COMMON)  # type: ignore[arg-type]
            t0 = time.perf_counter()
            model.fit(data.train)
            seconds = time.perf_counter() - t0
            valid, _ = evaluate(model, data, k=10, on="valid")
            fits.append((valid["ndcg@10"], reg, seconds, model))
            print(f"  {name} {trainer} reg={reg}: fit {seconds:.1f} s, "
                  f"valid NDCG@10 {valid['ndcg@10']:.4f}", flush=True)  # fmt: skip
        _, reg, _, best = max(fits, key=lambda f: f[0])
        test, n_users = evaluate(best, data, k=10, on="test")
        rows.append(
            {
                "dataset": name,
                "trainer": trainer,
                "fit_s": statistics.median(f[2] for f in fits),
                "fits": len(fits),
                "reg": reg,
                "recall": test["recall@10"],
                "ndcg": test["ndcg@10"],
                "users": n_users,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--data-dir", type=Path, default=get_settings().dataset_dir("ml-latest-small")
    )
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--eval-users", type=int, default=10_000)
    parser.add_argument("--datasets", default="ml-latest-small,synthetic-1m")
    parser.add_argument("--trainers", default="implicit,spark")
    parser.add_argument(
        "--full-grid", action="store_true", help="the regularization grid on every data set"
    )
    parser.add_argument(
        "--refit", action="store_true", help="also time a whole engine refit of the 1M log"
    )
    args = parser.parse_args()

    start_s = float("nan")
    if "spark" in args.trainers.split(","):
        t0 = time.perf_counter()
        spark_session(args.master, **{"spark.driver.memory": args.driver_memory})
        start_s = time.perf_counter() - t0
        print(f"Spark session on {args.master}: started in {start_s:.1f} s", flush=True)

    rows: list[dict[str, object]] = []
    for name in args.datasets.split(","):
        if name == "ml-latest-small":
            events = load_dataset(name, args.data_dir, verbose=False).events
            grids = dict(GRIDS)
        elif args.full_grid:
            events = load_synthetic(**SYNTHETIC).events  # type: ignore[arg-type]
            grids = dict(GRIDS)
        else:
            events = load_synthetic(**SYNTHETIC).events  # type: ignore[arg-type]
            # one fit per trainer, with the regularization ml-latest-small's validation
            # chose (a Spark fit of this set takes minutes on two cores)
            chosen = {str(r["trainer"]): float(r["reg"]) for r in rows}  # type: ignore[arg-type]
            grids = {t: [chosen.get(t, DEFAULT_REG[t])] for t in GRIDS}
        grids = {t: g for t, g in grids.items() if t in args.trainers.split(",")}
        data = to_split_data(random811(events, seed=DEFAULT_SEED))
        print(f"{name}: {data.n_users} users, {data.n_items} items, "
              f"{data.train.nnz} train pairs", flush=True)  # fmt: skip
        data = sample_users(data, args.eval_users, DEFAULT_SEED)
        rows += run(name, data, args.master, grids)

    print(f"\nSpark session start (JVM, once per process): {start_s:.1f} s\n")
    print("| data | trainer | fit s | fits | regularization | Recall@10 | NDCG@10 | "
          "test users |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['dataset']} | {r['trainer']} | {r['fit_s']:.1f} | {r['fits']} | "
              f"{r['reg']} | {r['recall']:.4f} | {r['ndcg']:.4f} | {r['users']} |")  # fmt: skip
    if args.refit:
        refit_times(args.master, {str(r["trainer"]): float(r["reg"]) for r in rows})  # type: ignore[arg-type]


def refit_times(master: str, reg: dict[str, float]) -> None:
    """A whole engine refit (``Engine.train``, no transformer) of the generated log with
    each factor trainer: what a worker spends per refit, ALS and everything else."""
    from pulserec.catalog import Catalog
    from pulserec.engine import Engine, EngineConfig
    from pulserec.evaluation.replay import to_events

    ds = load_synthetic(**SYNTHETIC)  # type: ignore[arg-type]
    engine = Engine(config=EngineConfig(sequential=False, spark_master=master))
    engine.upsert_items(list(Catalog.from_frame(ds.items)))
    engine.bootstrap(list(to_events(ds.events)))
    print(f"\nrefit of {len(ds.events):,} events, {len(ds.items):,} items (no transformer):")
    print("| factor trainer | refit s |")
    print("|---|---:|")
    for trainer in ("implicit", "spark"):
        engine.config.factor_trainer = trainer
        engine.config.als_regularization = reg.get("implicit", DEFAULT_REG["implicit"])
        engine.config.spark_regularization = reg.get("spark", DEFAULT_REG["spark"])
        t0 = time.perf_counter()
        engine.train()
        print(f"| {trainer} | {time.perf_counter() - t0:.1f} |", flush=True)


if __name__ == "__main__":
    main()
