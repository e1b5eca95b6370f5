"""How long a full garbage-collector pass stops a server process, with and without the
heap frozen (``pulserec.service.heap``), in process.

    python benchmarks/gc_pauses.py --dataset-dir ../shared/data/ml-latest-small \
        --work-dir /tmp/pulserec-gc --users 20000 --set engine.sequential=false

The app runs its lifespan in this process (the first run trains) with the keeper off
(``gc.freeze_s=0``), so this script decides when the heap is frozen. It fills the heap as
a serving process does: one recommendation for every user of the log, then ``--users``
new users with ``--events`` events each on random items (their states and the lists they
were served), and ``--requests`` more recommendations. Then, in each of ``--rounds``
rounds, it serves ``--requests`` recommendations and times one full pass
(``gc.collect()``) over the whole heap, then freezes the heap, serves as many again and
times one full pass (it walks what a keeper round leaves behind), and prints the medians,
their ratio, and what the heap holds. CPU time, so the ratio holds on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pulserec.types import Event
from route_profile import call, in_process_app


def full_pass_ms() -> float:
    """CPU milliseconds of one full collection."""
    t0 = time.process_time()
    gc.collect()
    return (time.process_time() - t0) * 1000.0


async def serve(app: Any, users: list[str], n: int, rng: random.Random) -> None:
    for _ in range(n):
        status, body = await call(app, f"/v1/users/{rng.choice(users)}/recommendations", "k=10")
        assert status == 200, (status, body[:300])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="ml-latest-small")
    parser.add_argument("--dataset-dir", type=Path, required=True)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/pulserec-gc"))
    parser.add_argument("--encoder", default="hashing")
    parser.add_argument("--users", type=int, default=20_000, help="new users to add")
    parser.add_argument("--events", type=int, default=5, help="events per new user")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--set", dest="assignments", action="append", default=[],
                        metavar="NAME=VALUE", help="a setting, e.g. engine.sequential=false")
    args = parser.parse_args()  # fmt: skip

    app, users, items = in_process_app(args, ["gc.freeze_s=0"])
    from fastapi.testclient import TestClient

    rng = random.Random(0)
    with TestClient(app):  # runs the lifespan: storage, models
        engine = app.state.runtime.engine
        now = time.time()
        fresh = [f"gc-bench-{i}" for i in range(args.users)]
        for start in range(0, len(fresh), 500):
            batch = [
                Event(user, rng.choice(items), "click", now + j)
                for user in fresh[start : start + 500]
                for j in range(args.events)
            ]  # fmt: skip
            engine.ingest_many(batch, durable=False)

        async def run() -> None:
            for u in users:
                await call(app, f"/v1/users/{u}/recommendations", "k=10")
            await serve(app, users + fresh, args.requests, rng)
            whole: list[float] = []
            frozen: list[float] = []
            for _ in range(args.rounds):
                gc.unfreeze()
                await serve(app, users + fresh, args.requests, rng)
                whole.append(full_pass_ms())
                gc.freeze()
                await serve(app, users + fresh, args.requests, rng)
                frozen.append(full_pass_ms())
            tracked = len(gc.get_objects())
            held = gc.get_freeze_count()
            gc.unfreeze()
            kinds = Counter(type(o).__name__ for o in gc.get_objects())
            a, b = statistics.median(whole), statistics.median(frozen)
            print(f"{len(users)} users of the log, {args.users} new users with {args.events} "
                  f"events each; each pass after {args.requests} requests; medians of "
                  f"{args.rounds} rounds, CPU ms")  # fmt: skip
            print(f"{'full pass':<34} {'ms':>8}")
            print(f"{'whole heap (no freeze)':<34} {a:>8.2f}")
            print(f"{'frozen heap, then new requests':<34} {b:>8.2f}")
            print(f"{'ratio frozen / whole':<34} {b / a:>8.3f}")
            print(f"tracked objects {tracked + held:,} ({held:,} frozen at the end); most "
                  f"common: {', '.join(f'{k} {v:,}' for k, v in kinds.most_common(8))}")

        asyncio.run(run())


if __name__ == "__main__":
    main()
