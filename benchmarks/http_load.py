"""HTTP load test of the service on loopback: latency at fixed offered rates, the highest
throughput, and how long an event takes to change the next recommendation.

    python benchmarks/http_load.py --dataset ml-latest-small \
        --dataset-dir ../shared/data/ml-latest-small --work-dir /tmp/pulserec-http-bench

Without the dataset the server runs on the demo data (``pulserec serve --demo``). The
server is ``pulserec serve`` in a subprocess (one uvicorn worker); the clients are
coroutines in this process, so both share the machine's cores.

Several API processes (docs/deploy.md): ``--servers N --redis`` starts a throwaway
``redis-server`` (AOF, ``appendfsync always``), loads the dataset into it, fits the models
once with ``pulserec worker --once`` (unless the work dir holds artifacts already) and runs N
``pulserec serve`` on it sharing that data directory; requests go round-robin over the
processes, ``server cpu`` sums their CPU and ``redis cpu`` is Redis's. ``--storage
redis://...`` uses a running Redis instead. One SQLite file cannot serve several processes
(each would miss the others' events), so N > 1 needs Redis.

``--fractions 0.5 0.8`` measures ``GET /v1/users/{id}/recommendations`` once more at those
fractions of its highest throughput (fixed rate, as above), for latency under a known load.

Each cell sends ``rate * seconds`` requests on a fixed schedule (open loop: a slow answer
does not slow the sender). ``p50``/``p99`` run from the moment a request is sent to its
answer; ``p99 sched`` runs from the moment it was scheduled, so it also counts time a
request waited in this client (coordinated omission included). Figures are medians over
``--repeats`` rounds; ``÷ base`` divides by the same statistic of ``GET /healthz`` (an
answer without any engine work) measured at the same rate in the same round, so runs on a
busy machine can still be compared. ``server cpu`` and ``client cpu`` are the CPU
milliseconds the server process (from ``/proc``) and this load generator used per answered
request during the cell: they depend little on what else the machine runs, so they say what
a route costs even when latencies are inflated by a busy box.

Client and server share the machine's two cores, so the client's own CPU is taken from the
server. ``--client lean`` (default) is a minimal keep-alive HTTP/1.1 client on raw asyncio
streams under uvloop; ``--client httpx`` is ``httpx.AsyncClient``, which spends several times
more CPU per request (both are reported in the table's ``client cpu`` column).

Targets (service issue): p99 < 10 ms for ``POST /v1/events`` and ``GET
/v1/users/{id}/recommendations`` at 200 req/s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import numpy as np

from pulserec.config import DEFAULT_ENCODER, DEFAULT_SEED, get_settings

KEY = "bench-key-0000001"
HEADERS = {"X-API-Key": KEY}
Request = tuple[str, str, dict[str, Any]]


@dataclass
class Cell:
    """One measurement: an endpoint at one offered rate (0 = as fast as possible)."""

    endpoint: str
    offered: float
    achieved: float
    p50_ms: float
    p99_ms: float
    p99_sched_ms: float
    errors: int
    n: int
    server_cpu_ms: float = float("nan")
    client_cpu_ms: float = float("nan")
    redis_cpu_ms: float = float("nan")


@dataclass
class Report:
    """Everything one run measured."""

    dataset: str
    encoder: str
    cpus: int
    load_before: float
    workers: int
    client: str = "lean"
    servers: int = 1
    storage: str = "sqlite"
    cells: list[Cell] = field(default_factory=list)
    max_rps: dict[str, Cell] = field(default_factory=dict)
    at_fraction: list[Cell] = field(default_factory=list)
    freshness: dict[str, float] = field(default_factory=dict)
    gc: list[dict[str, tuple[float, float]]] = field(default_factory=list)


# ------------------------------------------------------------------------------- client


class LeanResponse:
    """Status and body of one answer (the part of ``httpx.Response`` used here)."""

    __slots__ = ("content", "status_code")

    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code = status_code
        self.content = content

    def json(self) -> Any:
        return json.loads(self.content)


class LeanClient:
    """Keep-alive HTTP/1.1 on asyncio streams: a load generator that costs little CPU.

    Idle connections are pooled and reused; a connection that fails is dropped, and a
    request that failed on a pooled connection (the server closes idle ones after a few
    seconds) is sent once more on a new one. Errors surface as ``httpx.TransportError`` so
    callers treat both clients alike.
    """

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        host_port = base_url.split("://", 1)[1]
        self.host, port = host_port.rsplit(":", 1)
        self.port = int(port)
        fixed = f"Host: {host_port}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._fixed = fixed.encode()
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def __aenter__(self) -> LeanClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()

    async def get(self, url: str, **kwargs: Any) -> LeanResponse:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> LeanResponse:
        return await self.request("POST", url, **kwargs)

    async def request(
        self, method: str, url: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> LeanResponse:
        path = quote(url, safe="/:@-._~") + (f"?{urlencode(params)}" if params else "")
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self._fixed
        body = b""
        if json is not None:
            body = _json_bytes(json)
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n".encode()
        data = head + b"\r\n" + body
        errors = (OSError, ValueError, IndexError, asyncio.IncompleteReadError)
        if self._idle:
            try:
                return await self._send(data, self._idle.pop())
            except errors:
                pass  # a pooled connection the server has closed: once more on a new one
        try:
            return await self._send(data, None)
        except errors as exc:
            raise httpx.TransportError(f"{method} {url}: {exc!r}") from exc

    async def _send(
        self, data: bytes, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None
    ) -> LeanResponse:
        try:
            if conn is None:
                conn = await asyncio.open_connection(self.host, self.port)
            reader, writer = conn
            writer.write(data)
            status = int((await reader.readline()).split(b" ", 2)[1])
            length, chunked = 0, False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
            if chunked:
                parts = []
                while size := int((await reader.readline()).strip(), 16):
                    parts.append(await reader.readexactly(size))
                    await reader.readline()
                await reader.readline()
                content = b"".join(parts)
            else:
                content = await reader.readexactly(length)
        except BaseException:
            if conn is not None:
                conn[1].close()
            raise
        self._idle.append(conn)
        return LeanResponse(status, content)


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class RoundRobin:
    """Sends each request to the next of several clients (one per API process)."""

    def __init__(self, clients: list[Any]) -> None:
        self.clients = clients
        self._next = 0

    async def __aenter__(self) -> RoundRobin:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in self.clients:
            await client.__aexit__(*exc)

    async def get(self, url: str, **kwargs: Any) -> Any:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> Any:
        return await self.request("POST", url, **kwargs)

    async def request(self, method: str, url: str, **kwargs: Any) -> Any:
        client = self.clients[self._next]
        self._next = (self._next + 1) % len(self.clients)
        return await client.request(method, url, **kwargs)


# ------------------------------------------------------------------------------- server


def sqlite_url(work: Path) -> str:
    """The server's default storage in ``work``."""
    return f"sqlite:///{work / 'pulserec.db'}"


def prepare(work: Path, dataset: str, dataset_dir: Path, storage_url: str | None = None) -> bool:
    """Write the dataset's items and events into the storage (default ``work``'s SQLite
    log); False = use the demo."""
    if dataset == "demo" or not dataset_dir.is_dir():
        return False
    from pulserec.catalog.catalog import Catalog
    from pulserec.evaluation.replay import to_events
    from pulserec.events import load_dataset
    from pulserec.storage import open_storage

    storage = open_storage(storage_url or sqlite_url(work))
    try:
        if storage.counts()["events"] == 0:
            ds = load_dataset(dataset, dataset_dir, verbose=False)
            storage.upsert_items(list(Catalog.from_frame(ds.items)))
            events = list(to_events(ds.events))
            for start in range(0, len(events), 5000):  # one Redis call each, within its timeout
                storage.append(events[start : start + 5000])
    finally:
        storage.close()
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_redis(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A throwaway redis-server with an fsync-always AOF in ``work``; it and its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install -y redis-server)")
    port = free_port()
    folder = work / "redis"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    proc = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--appendonly", "yes",
         "--appendfsync", "always", "--save", "", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("redis-server did not start")


def start_server(
    work: Path, demo: bool, encoder: str, log: Path, assignments: list[str] | None = None,
    storage_url: str | None = None,
) -> tuple[subprocess.Popen[bytes], str]:  # fmt: skip
    port = free_port()
    env = os.environ | {"PULSEREC_API_KEYS": f"{KEY}:ingest+read+admin"}
    cmd = [sys.executable, "-m", "pulserec.cli", "serve", "--host", "127.0.0.1",
           "--port", str(port), "--data-dir", str(work), "--encoder", encoder,
           "--no-access-log"] + (["--demo"] if demo else [])  # fmt: skip
    if storage_url is not None:
        cmd += ["--storage", storage_url]
    for assignment in assignments or []:
        cmd += ["--set", assignment]
    proc = subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 1800  # the first start embeds the catalog and trains
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited during start:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    proc.kill()
    raise SystemExit("the server did not start within 30 minutes")


def fit_once(work: Path, storage_url: str, encoder: str, assignments: list[str]) -> None:
    """Refit once into ``work``'s artifacts, as the worker of a Redis deployment does."""
    cmd = [sys.executable, "-m", "pulserec.cli", "worker", "--storage", storage_url,
           "--artifacts-dir", str(work / "artifacts"), "--once", "--encoder", encoder]  # fmt: skip
    for assignment in assignments:
        cmd += ["--set", assignment]
    with (work / "worker.log").open("wb") as log:
        if subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode != 0:
            raise SystemExit(f"the worker failed:\n{(work / 'worker.log').read_text()[-3000:]}")


def wait_trained(url: str, limit_s: float = 3600.0) -> dict[str, Any]:
    """Wait for a running refit (a first start brings the transformer in behind)."""
    deadline = time.monotonic() + limit_s
    while True:
        st: dict[str, Any] = httpx.get(f"{url}/v1/admin/status", headers=HEADERS).json()
        if not st["training"] or time.monotonic() > deadline:
            return st
        time.sleep(1.0)


def population(work: Path, storage_url: str | None = None) -> tuple[list[str], list[str]]:
    """Users with events and the items of the catalog, read from the log file (or the
    given storage)."""
    if storage_url is not None:
        from pulserec.storage import open_storage

        storage = open_storage(storage_url)
        try:
            return sorted(storage.user_ids()), [item.item_id for item in storage.items()]
        finally:
            storage.close()
    with sqlite3.connect(work / "pulserec.db") as db:
        users = [r[0] for r in db.execute("SELECT DISTINCT user_id FROM events")]
        items = [r[0] for r in db.execute("SELECT item_id FROM items")]
    return users, items


# --------------------------------------------------------------------------------- load


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far; NaN off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Processes:
    """The processes whose CPU the cells report: the API servers and Redis, if any."""

    servers: list[int]
    redis: int | None = None

    def cpu(self) -> tuple[float, float, float]:
        """CPU seconds so far: the servers' (summed), this client's, Redis's (NaN: none)."""
        redis = cpu_seconds(self.redis) if self.redis is not None else float("nan")
        return sum(cpu_seconds(p) for p in self.servers), time.process_time(), redis


def with_cpu(cell: Cell, procs: Processes, before: tuple[float, float, float]) -> Cell:
    """Attach the servers', this client's and Redis's CPU milliseconds per answered request."""
    answered = cell.n - cell.errors
    if answered:
        now = procs.cpu()
        cell.server_cpu_ms, cell.client_cpu_ms, cell.redis_cpu_ms = (
            (after - start) * 1000.0 / answered for after, start in zip(now, before, strict=True)
        )
    return cell


def gc_pauses(url: str) -> dict[str, tuple[float, float]]:
    """The server's garbage-collector passes so far and their summed pause in ms, by
    generation, read from its ``/metrics`` (``pulserec_gc_pause_seconds``)."""
    found: dict[str, list[float]] = {}
    text = httpx.get(f"{url}/metrics", headers=HEADERS, timeout=10.0).text
    for line in text.splitlines():
        for suffix, slot in (("_count", 0), ("_sum", 1)):
            head = f'pulserec_gc_pause_seconds{suffix}{{generation="'
            if line.startswith(head):
                generation, value = line[len(head) :].split('"} ')
                found.setdefault(f"gen{generation}", [0.0, 0.0])[slot] = float(value)
    return {g: (n, total * 1000.0) for g, (n, total) in found.items()}


def list_writes(url: str) -> tuple[float, float, float]:
    """The server's writes of served lists so far: how many, their summed ms, and the
    longest (ms, since start), read from its ``/metrics``."""
    found = {"count": 0.0, "sum": 0.0, "max": 0.0}
    text = httpx.get(f"{url}/metrics", headers=HEADERS, timeout=10.0).text
    for line in text.splitlines():
        for key, head in (("count", "pulserec_online_list_write_seconds_count "),
                          ("sum", "pulserec_online_list_write_seconds_sum "),
                          ("max", "pulserec_online_list_write_max_seconds ")):  # fmt: skip
            if line.startswith(head):
                found[key] = float(line[len(head) :])
    return found["count"], found["sum"] * 1000.0, found["max"] * 1000.0


def format_gc(pauses: dict[str, tuple[float, float]]) -> str:
    return ", ".join(f"{g} {n:.0f} passes {ms:.0f} ms" for g, (n, ms) in sorted(pauses.items()))


def percentile_ms(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q) * 1000.0) if values else float("nan")


async def answered(client: Any, request: Request) -> bool:
    """Send one request; True when it got a non-error answer."""
    method, url, kwargs = request
    try:
        r = await client.request(method, url, **kwargs)
    except httpx.HTTPError:
        return False
    return bool(r.status_code < 400)


async def fixed_rate(
    client: Any, name: str, make: Callable[[int], Request], rate: float,
    seconds: float,
) -> Cell:  # fmt: skip
    """Send ``rate * seconds`` requests on a fixed schedule."""
    # perf_counter, not loop.time(): uvloop's clock ticks in whole milliseconds
    clock = time.perf_counter
    n = max(1, int(rate * seconds))
    start = clock() + 0.05
    sent_lat: list[float] = []
    sched_lat: list[float] = []
    errors = 0

    async def one(i: int) -> None:
        nonlocal errors
        scheduled = start + i / rate
        delay = scheduled - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        request = make(i)
        sent = clock()
        ok = await answered(client, request)
        done = clock()
        if ok:
            sent_lat.append(done - sent)
            sched_lat.append(done - scheduled)
        else:
            errors += 1

    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = clock() - start
    return Cell(name, rate, len(sent_lat) / elapsed, percentile_ms(sent_lat, 50),
                percentile_ms(sent_lat, 99), percentile_ms(sched_lat, 99), errors, n)  # fmt: skip


async def saturate(
    client: Any, name: str, make: Callable[[int], Request], workers: int,
    seconds: float,
) -> Cell:  # fmt: skip
    """Closed loop: ``workers`` clients each send their next request as soon as one returns."""
    clock = time.perf_counter
    lat: list[float] = []
    errors = 0
    counter = 0
    end = clock() + seconds

    async def worker() -> None:
        nonlocal errors, counter
        while clock() < end:
            counter += 1
            request = make(counter)
            sent = clock()
            if await answered(client, request):
                lat.append(clock() - sent)
            else:
                errors += 1

    start = clock()
    await asyncio.gather(*(worker() for _ in range(workers)))
    elapsed = clock() - start
    p50, p99 = percentile_ms(lat, 50), percentile_ms(lat, 99)
    return Cell(name, 0.0, len(lat) / elapsed, p50, p99, p99, errors, len(lat) + errors)


async def freshness(
    client: Any, users: list[str], n_users: int, rng: random.Random
) -> dict[str, float]:
    """Post a click on each user's top item, then read again: how long until the list changed.

    Clicking the top item must change the list (seen items are left out, and the click
    moves the user's interests). The time runs from sending the event to receiving the
    new list: one POST and one GET.
    """
    lat: list[float] = []
    changed = 0
    for user in rng.sample(users, min(n_users, len(users))):
        url = f"/v1/users/{user}/recommendations"
        before = [i["item_id"] for i in (await client.get(url)).json()["items"]]
        if not before:
            continue
        event = {"user_id": user, "item_id": before[0], "type": "click",
                 "timestamp": time.time()}  # fmt: skip
        t0 = time.perf_counter()
        await client.post("/v1/events", json=event)
        after = [i["item_id"] for i in (await client.get(url)).json()["items"]]
        lat.append(time.perf_counter() - t0)
        changed += before[0] not in after and after != before
    return {
        "users": float(len(lat)),
        "changed_fraction": changed / len(lat) if lat else 0.0,
        "p50_ms": percentile_ms(lat, 50),
        "p99_ms": percentile_ms(lat, 99),
    }


def requests_for(
    users: list[str], items: list[str], seed: int
) -> dict[str, Callable[[int], Request]]:
    rng = random.Random(seed)

    def health(_: int) -> Request:
        return "GET", "/healthz", {}

    def event(_: int) -> Request:
        body = {"user_id": rng.choice(users), "item_id": rng.choice(items), "type": "view",
                "timestamp": time.time()}  # fmt: skip
        return "POST", "/v1/events", {"json": body}

    def recommend(_: int) -> Request:
        return "GET", f"/v1/users/{rng.choice(users)}/recommendations", {"params": {"k": 10}}

    return {
        "GET /healthz (baseline)": health,
        "POST /v1/events": event,
        "GET /v1/users/{id}/recommendations": recommend,
    }


async def drive(urls: list[str], procs: Processes, users: list[str], items: list[str],
                args: argparse.Namespace, report: Report) -> None:  # fmt: skip
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    client: Any = RoundRobin([
        LeanClient(url, HEADERS)
        if args.client == "lean"
        else httpx.AsyncClient(base_url=url, headers=HEADERS, limits=limits, timeout=30.0)
        for url in urls
    ])  # fmt: skip
    async with client:
        makers = requests_for(users, items, args.seed)
        # warm-up: every user's state is restored from the log once in every process, as
        # in steady state
        for chunk in range(0, min(len(users), 3000) * len(urls), 50):
            await asyncio.gather(*(client.get(f"/v1/users/{users[i % len(users)]}/recommendations")
                                   for i in range(chunk, chunk + 50)))  # fmt: skip
        for rnd in range(args.repeats):
            for rate in args.rates:
                for name, make in makers.items():
                    before = procs.cpu()
                    cell = await fixed_rate(client, name, make, rate, args.seconds)
                    cell = with_cpu(cell, procs, before)
                    report.cells.append(cell)
                    print(f"  round {rnd + 1} {name:<36} {rate:>5.0f}/s  p50 {cell.p50_ms:6.2f}"
                          f"  p99 {cell.p99_ms:6.2f} ms  achieved {cell.achieved:6.1f}/s",
                          flush=True)  # fmt: skip
        for name, make in makers.items():
            cells = []
            for _ in range(args.repeats):
                before = procs.cpu()
                cell = await saturate(client, name, make, args.workers, args.seconds)
                cells.append(with_cpu(cell, procs, before))
            report.max_rps[name] = sorted(cells, key=lambda c: c.achieved)[len(cells) // 2]
        name = "GET /v1/users/{id}/recommendations"
        for fraction in args.fractions:
            rate = fraction * report.max_rps[name].achieved
            for _ in range(args.repeats):
                before = procs.cpu()
                cell = await fixed_rate(client, name, makers[name], rate, args.seconds)
                report.at_fraction.append(with_cpu(cell, procs, before))
                print(f"  {fraction:.0%} of the highest throughput: {rate:6.1f}/s  p50 "
                      f"{cell.p50_ms:6.2f}  p99 {cell.p99_ms:6.2f} ms", flush=True)  # fmt: skip
        report.freshness = await freshness(client, users, args.fresh_users, random.Random(1))
    report.gc = [gc_pauses(url) for url in urls]


# -------------------------------------------------------------------------------- table


def median_cell(cells: list[Cell]) -> Cell:
    first = cells[0]
    return Cell(
        first.endpoint, first.offered,
        statistics.median(c.achieved for c in cells), statistics.median(c.p50_ms for c in cells),
        statistics.median(c.p99_ms for c in cells),
        statistics.median(c.p99_sched_ms for c in cells), sum(c.errors for c in cells),
        sum(c.n for c in cells), statistics.median(c.server_cpu_ms for c in cells),
        statistics.median(c.client_cpu_ms for c in cells),
        statistics.median(c.redis_cpu_ms for c in cells),
    )  # fmt: skip


def print_table(report: Report) -> None:
    print(f"\n{report.dataset} · encoder {report.encoder} · {report.cpus} CPUs · "
          f"load average before {report.load_before:.2f} · client {report.client} · "
          f"{report.servers} API process(es) on {report.storage} · medians of rounds")  # fmt: skip
    head = (f"{'endpoint':<36} {'offered':>8} {'achieved':>9} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'p99 sched':>9} {'errors':>6} {'p50÷base':>8} {'p99÷base':>8} "
            f"{'server cpu':>10} {'client cpu':>10}")  # fmt: skip
    print(head)
    print("-" * len(head))
    rates = sorted({c.offered for c in report.cells})
    for rate in rates:
        by_name: dict[str, list[Cell]] = {}
        for c in report.cells:
            if c.offered == rate:
                by_name.setdefault(c.endpoint, []).append(c)
        base = median_cell(by_name["GET /healthz (baseline)"])
        for cells in by_name.values():
            m = median_cell(cells)
            print(f"{m.endpoint:<36} {rate:>8.0f} {m.achieved:>9.1f} {m.p50_ms:>7.2f} "
                  f"{m.p99_ms:>7.2f} {m.p99_sched_ms:>9.2f} {m.errors:>6d} "
                  f"{m.p50_ms / base.p50_ms:>8.2f} {m.p99_ms / base.p99_ms:>8.2f} "
                  f"{m.server_cpu_ms:>10.2f} {m.client_cpu_ms:>10.2f}")  # fmt: skip
    print(f"\nhighest throughput (closed loop, {report.workers} concurrent clients):")
    base = report.max_rps["GET /healthz (baseline)"]
    for name, c in report.max_rps.items():
        print(f"{name:<36} {c.achieved:>8.0f} req/s  p50 {c.p50_ms:6.2f} ms  p99 {c.p99_ms:6.2f}"
              f" ms  ({c.achieved / base.achieved:.2f}× baseline)  cpu ms/req: server "
              f"{c.server_cpu_ms:.2f}, client {c.client_cpu_ms:.2f}"
              + ("" if math.isnan(c.redis_cpu_ms) else f", redis {c.redis_cpu_ms:.2f}")
              )  # fmt: skip
    if report.at_fraction:
        print("\nGET /v1/users/{id}/recommendations at fractions of its highest throughput:")
        for rate in sorted({c.offered for c in report.at_fraction}):
            m = median_cell([c for c in report.at_fraction if c.offered == rate])
            share = rate / report.max_rps[m.endpoint].achieved
            print(f"{share:>4.0%} {rate:>8.1f}/s offered  achieved {m.achieved:7.1f}/s  p50 "
                  f"{m.p50_ms:6.2f} ms  p99 {m.p99_ms:6.2f} ms  p99 sched "
                  f"{m.p99_sched_ms:6.2f} ms  errors {m.errors}  server cpu "
                  f"{m.server_cpu_ms:.2f} ms/req")  # fmt: skip
    f = report.freshness
    print(f"\nevent -> changed recommendation (POST + GET, {f['users']:.0f} users): "
          f"p50 {f['p50_ms']:.2f} ms, p99 {f['p99_ms']:.2f} ms, "
          f"list changed for {f['changed_fraction']:.0%} of users")  # fmt: skip
    for j, pauses in enumerate(report.gc):
        print(f"garbage collector, server {j + 1}, whole run: {format_gc(pauses)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="ml-latest-small", help="a loader name, or demo")
    parser.add_argument(
        "--dataset-dir",
        type=Path,
        default=None,
        help="default <data_root>/<dataset> (PULSEREC_DATA_ROOT); missing -> the demo data",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path("/tmp/pulserec-http-bench"),
        help="the server's data dir (kept: later runs start fast)",
    )
    parser.add_argument("--encoder", default=DEFAULT_ENCODER)
    parser.add_argument("--rates", type=float, nargs="+", default=[100.0, 200.0, 400.0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per cell")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=32, help="clients when saturating")
    parser.add_argument("--client", choices=("lean", "httpx"), default="lean")
    parser.add_argument("--fresh-users", type=int, default=200)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--output", type=Path, default=None, help="write the figures as JSON")
    parser.add_argument("--servers", type=int, default=1, help="API processes (N > 1: Redis)")
    parser.add_argument("--redis", action="store_true",
                        help="start a throwaway redis-server and serve from it")
    parser.add_argument("--storage", default=None, help="a redis:// URL already running")
    parser.add_argument("--fractions", type=float, nargs="*", default=[],
                        help="also measure recommendations at these fractions of the maximum")
    parser.add_argument("--set", dest="assignments", action="append", default=[],
                        metavar="NAME=VALUE",
                        help="a server setting, e.g. online.log_lists=false (repeatable)")
    args = parser.parse_args()  # fmt: skip

    dataset_dir = args.dataset_dir or get_settings().dataset_dir(args.dataset)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    redis_proc = None
    storage_url = args.storage
    if args.redis:
        redis_proc, storage_url = start_redis(args.work_dir)
    if args.servers > 1 and storage_url is None:
        raise SystemExit("--servers > 1 needs a shared storage: --redis or --storage redis://...")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        real = prepare(args.work_dir, args.dataset, dataset_dir, storage_url)
        name = args.dataset if real else "demo"
        print(f"starting {args.servers} server(s) on {args.work_dir} ({name}, encoder "
              f"{args.encoder}, storage {storage_url or 'sqlite'})", flush=True)  # fmt: skip
        t0 = time.perf_counter()
        if storage_url is not None and real and not (args.work_dir / "artifacts").is_dir():
            # on Redis the API processes never train: a worker refits once
            print("fitting the models with `pulserec worker --once`", flush=True)
            fit_once(args.work_dir, storage_url, args.encoder, args.assignments)
        urls = []
        for j in range(args.servers):  # one at a time: the first may train on SQLite
            proc, url = start_server(args.work_dir, not real, args.encoder,
                                     args.work_dir / f"server{j or ''}.log", args.assignments,
                                     storage_url)  # fmt: skip
            procs.append(proc)
            urls.append(url)
            print(f"server ready in {time.perf_counter() - t0:.1f}s at {url}", flush=True)
            st = wait_trained(url)
            print(f"models {st['model_version']} ready after {time.perf_counter() - t0:.1f}s "
                  f"(training {st['training']})", flush=True)  # fmt: skip
        users, items = population(args.work_dir, storage_url)
        report = Report(name, args.encoder, os.cpu_count() or 0, os.getloadavg()[0],
                        args.workers, args.client, args.servers,
                        "redis" if storage_url else "sqlite")  # fmt: skip
        import uvloop

        watched = Processes([p.pid for p in procs], redis_proc.pid if redis_proc else None)
        uvloop.run(drive(urls, watched, users, items, args, report))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(30)
    print_table(report)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        payload = asdict(report) | {"args": {k: str(v) for k, v in vars(args).items()}}
        args.output.write_text(json.dumps(payload, indent=2))
        print(f"\nfigures written to {args.output}")


if __name__ == "__main__":
    main()
