"""Two builds of the server side by side: closed-loop recommendations, alternating between
them, so that both see the same load from whatever else the machine runs.

    git archive <commit> src | tar -x -C /tmp/before
    python benchmarks/ab_servers.py --a /tmp/before/src --b src \
        --dataset-dir ../shared/data/ml-latest-small --set engine.sequential=false

Two settings of one build, the same way (``--set-a`` / ``--set-b`` apply to one server
only, ``--rate`` sends at a fixed rate instead of as fast as possible)::

    python benchmarks/ab_servers.py --a src --b src --dataset-dir \
        ../shared/data/ml-latest-small --set engine.sequential=false \
        --set-a online.log_lists=false --set-b online.log_lists=true --rate 100

Each build is ``pulserec serve`` on its own copy of the dataset (``<work-dir>/a``,
``<work-dir>/b``; the first start trains), with ``PYTHONPATH`` set to its source tree. After
a warm-up request per user on each, ``--rounds`` rounds send ``GET
/v1/users/{id}/recommendations`` for ``--seconds`` to one build, then to the other (the
order alternates by round): from ``--workers`` concurrent clients (closed loop), or at
``--rate`` requests a second on a fixed schedule (open loop, http_load's). Printed per round
and as medians: requests/s, the server's CPU ms per request (from ``/proc``), p50 and p99,
the median over rounds of b's p99 divided by a's in the same round, and each server's
garbage-collector passes during the rounds. On a shared machine the rounds' figures drift
together; the comparison within a round holds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import time
from pathlib import Path

from http_load import (
    HEADERS,
    Cell,
    LeanClient,
    cpu_seconds,
    fixed_rate,
    format_gc,
    gc_pauses,
    list_writes,
    population,
    prepare,
    requests_for,
    saturate,
    start_server,
    wait_trained,
)

Pauses = dict[str, tuple[float, float]]


async def alternate(
    servers: dict[str, tuple[subprocess.Popen[bytes], str]], users: list[str],
    items: list[str], args: argparse.Namespace,
) -> tuple[dict[str, list[tuple[Cell, float]]], dict[str, Pauses]]:  # fmt: skip
    """The rounds' cells and server CPU ms per request, by build, and each server's
    garbage-collector passes before the rounds."""
    clients = {name: LeanClient(url, HEADERS) for name, (_, url) in servers.items()}
    for client in clients.values():
        for chunk in range(0, len(users), 50):
            await asyncio.gather(*(client.get(f"/v1/users/{u}/recommendations")
                                   for u in users[chunk : chunk + 50]))  # fmt: skip
    make = requests_for(users, items, args.seed)["GET /v1/users/{id}/recommendations"]
    gc_before = {name: gc_pauses(url) for name, (_, url) in servers.items()}
    writes_before = {name: list_writes(url) for name, (_, url) in servers.items()}
    found: dict[str, list[tuple[Cell, float]]] = {name: [] for name in servers}
    names = list(servers)
    for rnd in range(args.rounds):
        for name in names if rnd % 2 == 0 else names[::-1]:
            pid = servers[name][0].pid
            before = cpu_seconds(pid)
            if args.rate > 0:
                cell = await fixed_rate(clients[name], name, make, args.rate, args.seconds)
            else:
                cell = await saturate(clients[name], name, make, args.workers, args.seconds)
            cpu = (cpu_seconds(pid) - before) * 1000.0 / max(cell.n - cell.errors, 1)
            found[name].append((cell, cpu))
            print(f"round {rnd + 1} {name}: {cell.achieved:6.1f} req/s  server cpu {cpu:5.2f} "
                  f"ms/req  p50 {cell.p50_ms:6.1f} ms  p99 {cell.p99_ms:6.1f} ms  errors "
                  f"{cell.errors}", flush=True)  # fmt: skip
    for client in clients.values():
        await client.__aexit__()
    for name, (_, url) in servers.items():
        n0, ms0, _ = writes_before[name]
        n, ms, longest = list_writes(url)
        if n > n0:
            print(f"served-list writes, {name}, during the rounds: {n - n0:.0f} writes, "
                  f"{(ms - ms0) / (n - n0):.2f} ms on average (longest since start "
                  f"{longest:.1f} ms)", flush=True)  # fmt: skip
    return found, gc_before


def settled(servers: dict[str, tuple[subprocess.Popen[bytes], str]], wait_s: float) -> None:
    """Wait until each server's heap keeper has settled after its start.

    The keeper's first round, ``gc.freeze_s`` (30 s) after a server starts, unfreezes and
    collects the whole heap once (a full pass of 100-400 ms here); servers started one
    after the other would otherwise meet theirs at different points of the rounds, and the
    one that meets it inside a round loses its p99 to it. A full pass seen after the
    servers are ready is taken as the settle; past ``wait_s`` s the rounds start anyway
    (the settle then came before, during the server's own training)."""
    start = {name: gc_pauses(url).get("gen2", (0.0, 0.0))[0] for name, (_, url) in servers.items()}
    deadline = time.monotonic() + wait_s
    waiting = set(servers)
    while waiting and time.monotonic() < deadline:
        time.sleep(1.0)
        for name in list(waiting):
            if gc_pauses(servers[name][1]).get("gen2", (0.0, 0.0))[0] > start[name]:
                waiting.discard(name)
    for name in servers:
        state = "not seen, started anyway" if name in waiting else "settled"
        print(f"build {name}: heap keeper {state}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", type=Path, required=True, help="source tree of build a (src/)")
    parser.add_argument("--b", type=Path, required=True, help="source tree of build b (src/)")
    parser.add_argument("--dataset", default="ml-latest-small")
    parser.add_argument("--dataset-dir", type=Path, required=True)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/pulserec-ab"))
    parser.add_argument("--encoder", default="hashing")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0, help="per round and build")
    parser.add_argument("--workers", type=int, default=32, help="concurrent clients")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="assignments", action="append", default=[],
                        metavar="NAME=VALUE", help="a server setting (repeatable)")
    parser.add_argument("--set-a", dest="only_a", action="append", default=[],
                        metavar="NAME=VALUE", help="a setting of build a only (repeatable)")
    parser.add_argument("--set-b", dest="only_b", action="append", default=[],
                        metavar="NAME=VALUE", help="a setting of build b only (repeatable)")
    parser.add_argument("--settle-wait-s", type=float, default=70.0,
                        help="longest wait for each server's first full collection")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="requests a second per round (0: closed loop, --workers)")
    args = parser.parse_args()  # fmt: skip

    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    pythonpath = os.environ.get("PYTHONPATH")
    try:
        for name, src in (("a", args.a), ("b", args.b)):
            work = args.work_dir / name
            work.mkdir(parents=True, exist_ok=True)
            if not prepare(work, args.dataset, args.dataset_dir):
                raise SystemExit(f"no {args.dataset} at {args.dataset_dir}")
            os.environ["PYTHONPATH"] = str(src.resolve())  # the server subprocess's code
            own = args.only_a if name == "a" else args.only_b
            servers[name] = start_server(work, False, args.encoder, work / "server.log",
                                         args.assignments + own)  # fmt: skip
            wait_trained(servers[name][1])
            print(f"build {name} ({src}) ready", flush=True)
        users, items = population(args.work_dir / "a")
        settled(servers, args.settle_wait_s)
        import uvloop

        found, gc_before = uvloop.run(alternate(servers, users, items, args))
        pauses = {name: gc_pauses(url) for name, (_, url) in servers.items()}
    finally:
        if pythonpath is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = pythonpath
        for proc, _ in servers.values():
            proc.terminate()
        for proc, _ in servers.values():
            proc.wait(30)
    load = f"{args.rate:g} req/s" if args.rate > 0 else f"{args.workers} clients"
    print(f"\nmedians of {args.rounds} rounds ({load}, {args.seconds:g} s each; load average "
          f"{os.getloadavg()[0]:.2f} at the end):")  # fmt: skip
    for name, rows in found.items():
        print(f"{name} ({getattr(args, name)}): "
              f"{statistics.median(c.achieved for c, _ in rows):.1f} req/s, server cpu "
              f"{statistics.median(cpu for _, cpu in rows):.2f} ms/req, p50 "
              f"{statistics.median(c.p50_ms for c, _ in rows):.2f} ms, p99 "
              f"{statistics.median(c.p99_ms for c, _ in rows):.2f} ms; "
              f"{' '.join(args.only_a if name == 'a' else args.only_b)}")  # fmt: skip
    ratios = [b.p99_ms / a.p99_ms for (a, _), (b, _) in zip(found["a"], found["b"], strict=True)]
    print(f"p99 b / a, same round: median {statistics.median(ratios):.3f} (rounds: "
          f"{', '.join(f'{r:.2f}' for r in ratios)})")  # fmt: skip
    for name, gc in pauses.items():
        before = gc_before[name]
        rounds = {g: (n - before[g][0], ms - before[g][1]) for g, (n, ms) in gc.items()}
        print(f"garbage collector, {name}, during the rounds: {format_gc(rounds)}")


if __name__ == "__main__":
    main()
