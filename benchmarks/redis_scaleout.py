"""Scale-out on Redis: ingest rate and recommendation latency with 1 and 2 API processes,
next to the single-process SQLite default, all measured in the same run on loopback.

    python benchmarks/redis_scaleout.py --requests 1500 --concurrency 16

Every configuration starts from empty storage: the first API process runs ``pulserec serve
--demo`` (seeds the demo catalog and history, trains), a second one shares its data
directory (so it loads the same model artifacts). A throwaway ``redis-server`` runs with
``appendonly yes`` and ``appendfsync always``, i.e. every acknowledged event is fsynced, as
SQLite's ``synchronous=FULL`` does for the default.

Two phases per configuration, each a bounded number of requests sent by ``--clients`` load
processes (asyncio, ``--concurrency`` requests in flight in all), spread round-robin over the
API processes: ``POST /v1/events`` (one event each, each with an event id) for new users,
then ``GET /v1/users/{id}/recommendations?k=10`` for those same users (their state comes from
the log). Reported: requests per second of the phase, and p50/p99 latency per request.
Client, servers and Redis share this machine's cores: read the figures as relative.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from http_load import free_port, start_redis  # the same throwaway redis-server

KEY = "bench-key-0000001"
HEADERS = {"X-API-Key": KEY}
REPO = Path(__file__).resolve().parents[1]


def start_api(storage: str, data_dir: Path, log: Path, demo: bool) -> tuple[Any, str]:
    """``pulserec serve`` in a subprocess; returns it and its base URL once healthy."""
    port = free_port()
    env = os.environ | {"PULSEREC_API_KEYS": f"{KEY}:ingest+read+admin",
                        "PULSEREC_ENCODER": "hashing"}  # fmt: skip
    cmd = [sys.executable, "-m", "pulserec.cli", "serve", "--port", str(port),
           "--data-dir", str(data_dir), "--storage", storage, "--no-access-log"]  # fmt: skip
    proc = subprocess.Popen(
        [*cmd, *(["--demo"] if demo else [])],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    sys.exit(f"server not ready:\n{log.read_text()}")


def demo_item_ids() -> list[str]:
    """Item ids of the shipped demo catalog."""
    path = REPO / "src" / "pulserec" / "demo" / "catalog.jsonl"
    return [json.loads(line)["item_id"] for line in path.read_text().splitlines() if line]


async def _drive(jobs: list[tuple[str, str, dict[str, Any]]], concurrency: int) -> list[float]:
    latencies: list[float] = []
    queue = iter(jobs)
    failures = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal failures
        for method, url, kwargs in queue:
            t0 = time.perf_counter()
            r = await client.request(method, url, **kwargs)
            latencies.append(time.perf_counter() - t0)
            if r.status_code != 200:
                failures += 1

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(headers=HEADERS, timeout=30.0, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    if failures:
        raise RuntimeError(f"{failures} requests failed")
    return latencies


def _client(args: tuple[list[tuple[str, str, dict[str, Any]]], int]) -> list[float]:
    jobs, concurrency = args
    return asyncio.run(_drive(jobs, concurrency))


def run_phase(
    pool: Any, jobs: list[tuple[str, str, dict[str, Any]]], clients: int, concurrency: int
) -> dict[str, float]:
    """Send ``jobs`` from ``clients`` processes; requests/s and latency percentiles."""
    parts = [(jobs[c::clients], max(1, concurrency // clients)) for c in range(clients)]
    t0 = time.perf_counter()
    results = pool.map(_client, parts)
    wall = time.perf_counter() - t0
    lat = np.concatenate([np.asarray(r) for r in results]) * 1000.0
    return {
        "rps": len(jobs) / wall,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
    }


def measure(
    name: str, storage: str, n_api: int, work: Path, args: argparse.Namespace, pool: Any
) -> dict[str, Any]:
    """Start ``n_api`` servers on ``storage``, run both phases, stop them."""
    data = work / name.replace(" ", "-")
    data.mkdir(parents=True)
    procs, urls = [], []
    try:
        for j in range(n_api):
            proc, url = start_api(storage, data, work / f"{data.name}-{j}.log", demo=j == 0)
            procs.append(proc)
            urls.append(url)
        items = demo_item_ids()
        rng = np.random.default_rng(7)
        n = args.requests
        users = [f"bench-{name[0]}{n_api}-{u}" for u in range(args.users)]
        now = time.time()
        events = [
            ("POST", f"{urls[i % n_api]}/v1/events", {"json": {
                "user_id": users[i % len(users)], "item_id": items[int(rng.integers(len(items)))],
                "type": "click", "timestamp": now + i, "event_id": f"{name}-{i}"}})
            for i in range(n)
        ]  # fmt: skip
        recs = [
            ("GET", f"{urls[i % n_api]}/v1/users/{users[i % len(users)]}/recommendations",
             {"params": {"k": 10}})
            for i in range(n)
        ]  # fmt: skip
        # warm-up: every process answers a few of each before the clock starts
        run_phase(pool, events[: 4 * n_api], 1, n_api)
        run_phase(pool, recs[: 4 * n_api], 1, n_api)
        ingest = run_phase(pool, events[4 * n_api :], args.clients, args.concurrency)
        recommend = run_phase(pool, recs, args.clients, args.concurrency)
        return {"config": name, "api_processes": n_api, "ingest": ingest, "recommend": recommend}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1500, help="requests per phase")
    parser.add_argument("--users", type=int, default=100, help="distinct users posted for")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--clients", type=int, default=2, help="load-generator processes")
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="pulserec-scaleout-"))
    redis_proc, redis_url = start_redis(work)
    rows = []
    try:
        with mp.get_context("spawn").Pool(args.clients) as pool:
            rows.append(measure("sqlite x1", f"sqlite:///{work}/db/p.db", 1, work, args, pool))
            rows.append(measure("redis x1", f"{redis_url}?prefix=one", 1, work, args, pool))
            rows.append(measure("redis x2", f"{redis_url}?prefix=two", 2, work, args, pool))
    finally:
        redis_proc.terminate()
        redis_proc.wait(10)
    print(f"{os.cpu_count()} cores; {args.requests} requests per phase, "
          f"{args.concurrency} in flight from {args.clients} client processes")  # fmt: skip
    print("| storage | API processes | events/s | event p50 ms | event p99 ms "
          "| recs/s | rec p50 ms | rec p99 ms |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        i, g = r["ingest"], r["recommend"]
        print(f"| {r['config'].split()[0]} | {r['api_processes']} | {i['rps']:.0f} "
              f"| {i['p50_ms']:.1f} | {i['p99_ms']:.1f} | {g['rps']:.0f} "
              f"| {g['p50_ms']:.1f} | {g['p99_ms']:.1f} |")  # fmt: skip
    if args.output is not None:
        args.output.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
