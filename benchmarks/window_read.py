"""What a refit's window read costs from a long log: time and peak memory of
``events_frame(storage, window_s)``, reading the whole log then filtering (as before) against
reading only the window (``Storage.newest_timestamp``, then ``events(since_ts=...)``).

    nice -n 19 python benchmarks/window_read.py --events 1000000 --days 100 --window-days 7

A synthetic log (``--events`` events of 50,000 users on 20,000 items, arriving evenly over
``--days`` days, each stamped with its arrival time plus a normal jitter of one hour, so
event times are out of log order; 2% spam, 4% searches with a query text, 3% ratings with
a value) is written once to SQLite (kept in ``--work`` for the next run) and, where
``redis-server`` is installed, appended to a throwaway Redis, which then archives it to
Parquet files of ``--file-events`` events, keeping the last ``--retention-days`` (one
Redis row per retention: 14 days keeps the whole window in Redis, 3 days puts most of it in
the files).

Every measurement runs in a fresh process (``--child``), so each starts from the same
memory: the time is the call's wall time, the memory the growth of the peak resident set
during the call (``VmHWM`` after it, less ``VmRSS`` before it; the process has imported
everything and opened the storage by then). Medians of ``--repeats`` runs; before them,
one run of each in this process checks that both give the same frame. "of which the newest
time" is a separate ``newest_timestamp()`` call in the same process, after the read. Also
printed: the SQLite timestamp index's size and what it adds to an append, and on Redis how
long each scan script of the read held the server (``SLOWLOG``), where it runs any.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from http_load import start_redis  # the benchmarks' throwaway redis-server
from pulserec.engine.training import EVENT_COLUMNS, EVENT_TYPES, events_frame
from pulserec.storage import Storage, open_storage
from pulserec.storage.redis import RedisStorage
from pulserec.storage.redis_archive import archive_log
from pulserec.storage.sqlite import SQLiteStorage
from pulserec.types import Event

DAY = 86_400.0
START = 1_700_000_000.0


def read_all_then_filter(storage: Storage, window_s: float = 0.0) -> pd.DataFrame:
    """``events_frame`` as it was before the window read: the whole log, then the window
    in pandas."""
    rows = [
        (e.user_id, e.item_id, e.type, e.timestamp, e.value, e.text)
        for s in storage.events()
        if not s.spam
        for e in (s.event,)
    ]
    frame = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    if window_s > 0 and len(frame):
        times = frame["timestamp"]
        frame = frame[times >= times.max() - window_s].reset_index(drop=True)
    return frame


def synthetic_log(n: int, days: float, seed: int = 0) -> tuple[list[Event], list[bool]]:
    rng = np.random.default_rng(seed)
    arrival = START + np.arange(n) * (days * DAY / n)
    times = arrival + rng.normal(0.0, 3600.0, n)
    users = rng.zipf(1.3, n) % 50_000
    items = rng.zipf(1.2, n) % 20_000
    kind = rng.random(n)
    spam = (rng.random(n) < 0.02).tolist()
    events = []
    for j in range(n):
        user, t = f"user{users[j]:05d}", float(times[j])
        if kind[j] < 0.04:
            events.append(Event(user, None, "search", t, text=f"query {items[j] % 997}"))
        elif kind[j] < 0.07:
            events.append(Event(user, f"item{items[j]:05d}", "rate", t, float(1 + j % 5)))
        else:
            events.append(Event(user, f"item{items[j]:05d}", "click", t))
    return events, spam


def append_all(storage: Storage, events: list[Event], spam: list[bool], batch: int) -> float:
    t0 = time.perf_counter()
    for lo in range(0, len(events), batch):
        storage.append(events[lo : lo + batch], spam[lo : lo + batch])
    return time.perf_counter() - t0


def sqlite_log(work: Path, n: int, days: float) -> str:
    """The SQLite log's URL, written at the first run with these sizes."""
    path = work / f"log-{n}-{days:g}d.db"
    url = f"sqlite:///{path}"
    if path.exists():
        storage = open_storage(url)
        count = storage.counts()["events"]
        storage.close()
        if count == n:
            return url
        path.unlink()
    events, spam = synthetic_log(n, days)
    storage = SQLiteStorage(url, synchronous="OFF")
    seconds = append_all(storage, events, spam, 10_000)
    storage.close()
    print(f"wrote {n:,} events to {path} in {seconds:.0f} s", flush=True)
    return url


def index_cost(work: Path, n: int = 50_000, repeats: int = 3) -> tuple[float, float]:
    """Microseconds an appended event costs without and with the timestamp index (100
    events a transaction, ``synchronous=OFF``: the CPU, not the fsync)."""
    events, spam = synthetic_log(n, 1.0, seed=1)
    out: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(repeats):
        for indexed in (False, True):
            path = work / "append.db"
            for leftover in work.glob("append.db*"):
                leftover.unlink()
            storage = SQLiteStorage(f"sqlite:///{path}", synchronous="OFF")
            if not indexed:
                storage._conn.execute("DROP INDEX events_time")
            out[indexed].append(append_all(storage, events, spam, 100) / n * 1e6)
            storage.close()
    for leftover in work.glob("append.db*"):
        leftover.unlink()
    return statistics.median(out[False]), statistics.median(out[True])


def index_mb(url: str) -> str:
    """The size of the timestamp index and of the whole database, in MB."""
    storage = SQLiteStorage(url)
    try:
        conn = storage._conn
        sql = "SELECT SUM(pgsize) FROM dbstat WHERE name = 'events_time'"
        (index,) = conn.execute(sql).fetchone()
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
        (size,) = conn.execute("PRAGMA page_size").fetchone()
        return f"{index / 1e6:.0f} MB of {pages * size / 1e6:.0f} MB"
    except Exception:  # dbstat is an optional part of SQLite
        return "n/a"
    finally:
        storage.close()


def rss_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        return int(f.read().split(f"{field}:")[1].split()[0])


def child(variant: str, url: str, window_s: float) -> None:
    """One measurement in this fresh process; prints it as JSON."""
    storage = open_storage(url)
    storage.counts()  # connected
    try:  # the peak so far is this process's start: count from here
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    before = rss_kb("VmRSS")
    t0 = time.perf_counter()
    if variant == "before":
        frame = read_all_then_filter(storage, window_s)
    else:
        frame = events_frame(storage, window_s)
    seconds = time.perf_counter() - t0
    peak = rss_kb("VmHWM")
    t1 = time.perf_counter()
    storage.newest_timestamp()
    newest = time.perf_counter() - t1
    storage.close()
    print(json.dumps({"seconds": seconds, "peak_mb": (peak - before) / 1024, "rows": len(frame),
                      "newest_s": newest}))  # fmt: skip


def measure(variant: str, url: str, window_s: float, repeats: int) -> dict[str, float]:
    runs = []
    for _ in range(repeats):
        cmd = [sys.executable, __file__, "--child", variant, "--url", url,
               "--window-s", str(window_s)]  # fmt: skip
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def check_same(url: str, window_s: float) -> tuple[int, int]:
    """Both reads give the same frame (the columns' types aside); the log's and the
    window's rows."""
    storage = open_storage(url)
    whole = read_all_then_filter(storage)
    old = read_all_then_filter(storage, window_s).astype(EVENT_TYPES)
    pd.testing.assert_frame_equal(events_frame(storage, window_s), old)
    storage.close()
    return len(whole), len(old)


def row(name: str, url: str, window_s: float, repeats: int) -> str:
    n_log, n_window = check_same(url, window_s)
    old = measure("before", url, window_s, repeats)
    new = measure("after", url, window_s, repeats)
    smaller = old["peak_mb"] / max(new["peak_mb"], 1e-9)
    return (f"| {name} | {n_log:,} | {n_window:,} | {old['seconds']:.2f} | "
            f"{new['seconds']:.2f} ({new['newest_s']:.3f}) | "
            f"{old['seconds'] / new['seconds']:.1f}× | {old['peak_mb']:.0f} | "
            f"{new['peak_mb']:.0f} | {smaller:.1f}× |")  # fmt: skip


@contextmanager
def redis_log(
    work: Path, n_events: int, days: float, fill: Callable[[Storage], None] | None = None
) -> Iterator[tuple[RedisStorage, str, float, Path]]:
    """A throwaway redis-server holding :func:`synthetic_log` (after ``fill``, say the
    items): the storage, its URL, the newest unflagged event's time and an empty archive
    folder; all removed on exit."""
    proc, url = start_redis(work)
    try:
        storage = open_storage(url)
        assert isinstance(storage, RedisStorage)
        if fill is not None:
            fill(storage)
        events, spam = synthetic_log(n_events, days)
        newest = max(e.timestamp for e, s in zip(events, spam, strict=True) if not s)
        seconds = append_all(storage, events, spam, 1000)
        print(f"appended {n_events:,} events to Redis in {seconds:.0f} s", flush=True)
        del events, spam
        folder = Path(tempfile.mkdtemp(dir=work, prefix="archive-"))
        yield storage, url, newest, folder
        storage.close()
        shutil.rmtree(folder, ignore_errors=True)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work / "redis", ignore_errors=True)


def redis_rows(
    args: argparse.Namespace, work: Path, window_s: float, scripts: list[str]
) -> list[str]:
    out = []
    with redis_log(work, args.events, args.days) as (storage, url, newest, folder):
        for days in sorted((float(d) for d in args.retention_days.split(",")), reverse=True):
            report = archive_log(storage, retention_s=days * DAY, folder=folder, now=newest,
                                 max_events=args.file_events)  # fmt: skip
            archive = storage.archive()
            files = len(archive.files()) if archive is not None else 0
            live = int(storage.client.xlen(storage.key("log")))
            print(f"archived to the last {days:g} days: {report.events:,} more events "
                  f"({files} files in all), {live:,} in Redis", flush=True)  # fmt: skip
            name = f"Redis, {days:g} days live ({live:,}), {files} files"
            storage.client.config_set("slowlog-log-slower-than", 0)
            storage.client.config_set("slowlog-max-len", 1_000_000)
            storage.client.slowlog_reset()
            out.append(row(name, url, window_s, args.repeats))
            print(out[-1], flush=True)
            # how long each scan script held Redis (the reads before are plain XRANGEs)
            held = [e["duration"] for e in storage.client.slowlog_get(1_000_000)
                    if e["command"].startswith(b"EVALSHA")]  # fmt: skip
            storage.client.config_set("slowlog-log-slower-than", 10_000)
            if held:
                scripts.append(f"{name}: {len(held):,} scan scripts, each held Redis "
                               f"{statistics.median(held) / 1000:.2f} ms (median), "
                               f"{max(held) / 1000:.2f} ms at most")  # fmt: skip
                print(scripts[-1], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=100.0)
    parser.add_argument("--window-days", type=float, default=7.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,redis")
    parser.add_argument("--retention-days", default="14,3",
                        help="Redis: archive all but this many days, one row each")  # fmt: skip
    parser.add_argument("--file-events", type=int, default=100_000)
    parser.add_argument("--work", type=Path,
                        default=Path(tempfile.gettempdir()) / "pulserec-window-read")  # fmt: skip
    parser.add_argument("--child", choices=["before", "after"])
    parser.add_argument("--url")
    parser.add_argument("--window-s", type=float)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url, args.window_s)
        return
    args.work.mkdir(parents=True, exist_ok=True)
    window_s = args.window_days * DAY
    backends = args.backends.split(",")
    rows: list[str] = []
    scripts: list[str] = []
    header = (f"{args.events:,} events over {args.days:g} days, window {args.window_days:g} "
              f"days; medians of {args.repeats} runs, each in a fresh process")  # fmt: skip
    print(header, flush=True)
    if "sqlite" in backends:
        url = sqlite_log(args.work, args.events, args.days)
        rows.append(row("SQLite", url, window_s, args.repeats))
        print(rows[-1], flush=True)
        without, with_index = index_cost(args.work)
        index_line = (f"SQLite timestamp index: {index_mb(url)} database; an append costs "
                      f"{without:.1f} µs an event without it, {with_index:.1f} µs with it "
                      "(synchronous=OFF, 100 events a transaction)")  # fmt: skip
        print(index_line, flush=True)
    if "redis" in backends:
        if shutil.which("redis-server") is None:
            print("no redis-server: Redis left out")
        else:
            rows += redis_rows(args, args.work, window_s, scripts)
    print(f"\n{header}\n")
    print("| storage | log events | window events | before s | after s (of which the newest "
          "time) | faster | before peak MB | after peak MB | smaller |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    if "sqlite" in backends:
        print(f"\n{index_line}")
    for line in scripts:
        print(line)


if __name__ == "__main__":
    main()
