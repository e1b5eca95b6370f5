"""What a bounded training window (``engine.train_window_s``) costs in accuracy and saves
in refit time, measured by the streaming replay.

    python benchmarks/train_window.py --data-dir ../shared/data/ml-latest-small \\
        --windows 0,0.5,0.25,0.1 --max-users 300

The timeline is cut at ``--train-fraction``; each run refits a fresh engine on the events
before the cut with a window keeping the given share of the training timeline (0: the
whole log), then replays the test events in time order with real-time updates on
(recommend, then ingest each event; the protocol of docs/realtime.md, for one seeded
sample of test users). Printed: the events the refit fitted on, the refit's seconds and
HitRate@10 / NDCG@10 over the same scored events; no transformer, no text.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from pulserec.config import get_settings
from pulserec.engine import Engine, EngineConfig
from pulserec.evaluation.replay import plan_replay, replay_engine
from pulserec.events import load_dataset


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="ml-latest-small")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--windows", default="0,0.5,0.25,0.1",
                        help="shares of the training timeline a refit keeps (0: all)")  # fmt: skip
    parser.add_argument("--train-fraction", type=float, default=0.8)
    parser.add_argument("--max-users", type=int, default=300)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    data_dir = args.data_dir or get_settings().dataset_dir(args.dataset)
    ds = load_dataset(args.dataset, data_dir, verbose=False)
    plan = plan_replay(ds, train_fraction=args.train_fraction, max_users=args.max_users)
    times = np.array([e.timestamp for e in plan.train])
    span = times.max() - times.min()
    print(f"{args.dataset}: {len(plan.train):,} training events over {span / 86_400:,.0f} "
          f"days; {plan.n_scored:,} scored test events of {len(plan.users)} users\n")  # fmt: skip
    print("| window | days | events fitted | users in the factor model | refit s | "
          f"HitRate@{args.k} | NDCG@{args.k} |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    for share in (float(w) for w in args.windows.split(",")):
        window_s = span * share
        fitted: dict[str, Any] = {}

        def make_engine(window_s: float = window_s, fitted: dict[str, Any] = fitted) -> Engine:
            engine = Engine(config=EngineConfig(sequential=False, train_window_s=window_s))
            train = engine.train

            def timed(**kwargs: Any) -> Any:
                t0 = time.perf_counter()
                models = train(**kwargs)
                fitted["seconds"] = time.perf_counter() - t0
                fitted["users"] = len(models.users)
                return models

            engine.train = timed  # type: ignore[method-assign]
            return engine

        run = replay_engine(plan, make_engine, realtime=True, k=args.k)
        hits = run.ranks > 0
        ndcg = np.where(hits, 1.0 / np.log2(np.where(hits, run.ranks, 1) + 1.0), 0.0)
        n_fit = int((times >= times.max() - window_s).sum()) if share > 0 else len(times)
        label = "whole log" if share <= 0 else f"last {share:.0%}"
        days = (window_s if share > 0 else span) / 86_400
        print(f"| {label} | {days:,.0f} | {n_fit:,} | {fitted['users']:,} | "
              f"{fitted['seconds']:.1f} | {hits.mean():.4f} | {ndcg.mean():.4f} |",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
