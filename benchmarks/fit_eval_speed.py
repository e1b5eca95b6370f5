"""Fit and evaluation speed of the classic models on ml-100k.

    python benchmarks/fit_eval_speed.py --data-dir ../shared/data/ml-100k --repeats 5

Targets (foundation issue): each non-neural fit < 5 s; evaluating all 943
users (full ranking, masking, every metric) < 2 s. Timings are medians over
``--repeats`` runs; the ``ratio`` column divides by a calibration step measured
in the same run (a dense 1682 x 1682 Gram matrix of the training data), so
figures from a busy machine can still be compared.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from pulserec.config import DEFAULT_SEED, get_settings
from pulserec.evaluation import evaluate, random811, to_split_data
from pulserec.events import load_dataset
from pulserec.models import make_model


def median_seconds(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=get_settings().dataset_dir("ml-100k"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    ds = load_dataset("ml-100k", args.data_dir, verbose=False)
    data = to_split_data(random811(ds.events, seed=DEFAULT_SEED))
    dense = data.train.matrix.toarray()
    calib = median_seconds(lambda: dense.T @ dense, args.repeats)

    print(f"ml-100k: {data.n_users} users, {data.n_items} items, {data.train.nnz} train")
    print(f"calibration (dense Gram matrix): {calib * 1000:.1f} ms\n")
    print("| model | fit s (median) | fit ratio | eval s (median) | eval ratio | target |")
    print("|---|---:|---:|---:|---:|---|")
    for name in ("pop", "itemknn", "ease", "als", "bpr", "covisit"):
        model = make_model(name)
        fit_s = median_seconds(lambda model=model: model.fit(data.train), args.repeats)
        eval_s = median_seconds(lambda model=model: evaluate(model, data, k=10), args.repeats)
        ok = "ok" if fit_s < 5 and eval_s < 2 else "MISSED"
        print(
            f"| {name} | {fit_s:.3f} | {fit_s / calib:.1f}× | {eval_s:.3f} | "
            f"{eval_s / calib:.1f}× | {ok} |"
        )


if __name__ == "__main__":
    main()
