"""What logging served lists costs a recommendation and an event, in process.

    python benchmarks/online_overhead.py --dataset ml-latest-small \
        --dataset-dir ../shared/data/ml-latest-small --calls 3000

Two engines share one set of trained models over one SQLite log: one without the online
loop, one with it (served lists buffered and written by its thread every 0.5 s, clicks
attributed). Calls alternate between them in blocks of 50, so a busy machine slows both
alike; per round the table gives p50 and p99 per call with and without logging, and their
ratios; the last lines give the median ratio over rounds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from pulserec.config import OnlineSettings, get_settings
from pulserec.engine import Engine
from pulserec.evaluation.replay import plan_replay
from pulserec.events import load_dataset
from pulserec.online import OnlineLoop, open_online_store
from pulserec.storage import open_storage
from pulserec.types import Event


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="ml-latest-small")
    parser.add_argument("--dataset-dir", type=Path, default=None)
    parser.add_argument("--calls", type=int, default=2000, help="per engine and round")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sequential", action="store_true", help="rank with the transformer")
    args = parser.parse_args()
    settings = get_settings()
    ds = load_dataset(args.dataset, args.dataset_dir or settings.dataset_dir(args.dataset))
    plan = plan_replay(ds, train_fraction=0.9)
    config = replace(settings.engine.to_engine_config(), sequential=args.sequential)
    work = Path(tempfile.mkdtemp(prefix="online-overhead-"))
    url = f"sqlite:///{work}/p.db"
    plain = Engine(open_storage(url), config=config)
    plain.upsert_items(plan.items)
    plain.bootstrap(plan.train)
    plain.train()
    loop = OnlineLoop(open_online_store(open_storage(url)), OnlineSettings()).start()
    logged = Engine(open_storage(url), config=config, online=loop)
    logged.load_from_storage()
    logged.swap(plain.models)  # type: ignore[arg-type]
    users = sorted({e.user_id for e in plan.train})
    items = [it.item_id for it in plan.items]
    rng = np.random.default_rng(0)
    t = 2e9
    print(f"{'round':<6} {'call':<10} {'p50 off':>8} {'p50 on':>8} {'p99 off':>8} {'p99 on':>8} "
          f"{'p50 ×':>6} {'p99 ×':>6}")  # fmt: skip
    ratios: dict[str, list[tuple[float, float]]] = {"recommend": [], "event": []}
    for rnd in range(args.repeats):
        times: dict[tuple[str, str], list[float]] = {}
        for block in range(args.calls // 50):
            for name, engine in (("off", plain), ("on", logged))[:: 1 if block % 2 else -1]:
                for _ in range(50):
                    u = users[int(rng.integers(len(users)))]
                    t0 = time.perf_counter()
                    rec = engine.recommend(u, 10, now=t)
                    t1 = time.perf_counter()
                    # half the events are clicks on the list just served (attributed)
                    target = rec.items[int(rng.integers(10))].item_id if rng.random() < 0.5 else (
                        items[int(rng.integers(len(items)))])  # fmt: skip
                    engine.ingest(Event(u, target, "view", t + 1))
                    t2 = time.perf_counter()
                    times.setdefault(("recommend", name), []).append((t1 - t0) * 1e3)
                    times.setdefault(("event", name), []).append((t2 - t1) * 1e3)
                    t += 2
        for call in ("recommend", "event"):
            off, on = (np.array(times[(call, n)]) for n in ("off", "on"))
            q = [float(np.median(off)), float(np.median(on)), float(np.quantile(off, 0.99)),
                 float(np.quantile(on, 0.99))]  # fmt: skip
            ratios[call].append((q[1] / q[0], q[3] / q[2]))
            print(f"{rnd + 1:<6} {call:<10} {q[0]:>8.3f} {q[1]:>8.3f} {q[2]:>8.3f} {q[3]:>8.3f} "
                  f"{q[1] / q[0]:>6.3f} {q[3] / q[2]:>6.3f}")  # fmt: skip
    loop.close()
    print(f"{args.dataset}: {len(items)} items, {args.repeats} rounds of {args.calls} calls per "
          f"engine, {loop.log.written} lists written, {loop.log.dropped} dropped")  # fmt: skip
    for call, rows in ratios.items():
        print(f"median of rounds, {call}: p50 ×{np.median([r[0] for r in rows]):.3f}, "
              f"p99 ×{np.median([r[1] for r in rows]):.3f}")

if __name__ == "__main__":
    main()
