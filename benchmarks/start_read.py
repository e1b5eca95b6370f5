"""What an engine's start costs on a long log: time and peak memory of rebuilding the
catalog and the live counters from storage (``Engine.load_from_storage``), split by what
is read, before and after the start-up count was batched.

    nice -n 19 python benchmarks/start_read.py --events 1000000 --days 100

The log is :mod:`window_read`'s synthetic one (``--events`` events of 50,000 users on
20,000 items over ``--days`` days, out of order by an hour's jitter, 2% spam, 4% searches,
3% ratings), with 20,000 stored items (a title and one of 50 categories each, no text
encoder: embedding is the encoder's cost, not the log's), on SQLite (kept in ``--work``)
and, where ``redis-server`` is installed, in a throwaway Redis, archived to Parquet files
but for the last ``--retention-days``.

Each measurement runs in a fresh process (``--child``) that has opened the storage and
built an empty engine: "items" is the catalog's rebuild (``storage.items()`` and the
index), "read" iterates ``storage.events()`` and does nothing else, "before" rebuilds the
counters as ``load_from_storage`` did before this change (kept below as
:func:`count_before`), "after" as it does now. Peak MB is the growth of the peak resident
set during the phase (``VmHWM`` after it, less ``VmRSS`` before it). Medians of
``--repeats``; before them, one run in this process checks that both give the same
counters (trending to a relative 1e-9, the rest exactly).

User states are not rebuilt at start (each is restored from the log at its user's next
request) and saved models are read from their artifacts, whose size is the training
window's, not the log's: neither is measured here.
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
from itertools import islice
from pathlib import Path

import numpy as np

from pulserec.engine import Engine
from pulserec.storage import Storage, open_storage
from pulserec.storage.redis_archive import archive_log
from pulserec.types import Item
from window_read import DAY, redis_log, rss_kb, sqlite_log

N_ITEMS = 20_000


def count_before(engine: Engine) -> None:
    """The counters' rebuild of ``load_from_storage`` before this change: one event at a
    time into every counter."""
    stored_events = iter(engine.storage.events())
    while chunk := list(islice(stored_events, 1000)):
        engine.items.note_shown(s.event for s in chunk)
        for stored in chunk:
            engine.items.count(stored.event, spam=stored.spam)
            engine._log_seq = stored.seq
    engine.last_seq = max(engine.last_seq, engine._log_seq)


def count_after(engine: Engine) -> None:
    """The counters' rebuild of ``load_from_storage`` now."""
    engine._count_log()


def read_only(engine: Engine) -> None:
    for _ in engine.storage.events():
        pass


PHASES = {"read": read_only, "before": count_before, "after": count_after}


def with_items(storage: Storage) -> None:
    if storage.counts()["items"] < N_ITEMS:
        storage.upsert_items(
            Item(f"item{j:05d}", f"title {j}", "", (f"category{j % 50}",)) for j in range(N_ITEMS)
        )


def child(phase: str, url: str) -> None:
    """One measurement in this fresh process; prints it as JSON."""
    storage = open_storage(url)
    engine = Engine(storage)
    t0 = time.perf_counter()
    engine._index_items(list(storage.items()))
    items_s = time.perf_counter() - t0
    try:  # the peak so far is this process's start: count from here
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    before = rss_kb("VmRSS")
    t0 = time.perf_counter()
    PHASES[phase](engine)
    seconds = time.perf_counter() - t0
    peak = rss_kb("VmHWM")
    storage.close()
    print(json.dumps({"items_s": items_s, "seconds": seconds, "peak_mb": (peak - before) / 1024}))


def measure(phase: str, url: str, repeats: int) -> dict[str, float]:
    runs = []
    for _ in range(repeats):
        cmd = [sys.executable, __file__, "--child", phase, "--url", url]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def counters(engine: Engine) -> dict[str, object]:
    live = engine.items.live
    sessions = live.sessions
    return {
        "trending": live.trending.scores(len(engine.catalog)).copy(),
        "trending_fast": live.trending_fast.scores(len(engine.catalog)).copy(),
        "ref_ts": (live.trending.ref_ts, live.trending_fast.ref_ts),
        "interactions": engine.items.interactions.copy(),
        "ctr": (live.ctr.shows.copy(), live.ctr.clicks.copy(), live.ctr.impressions),
        "sessions": {k: sessions.knn.session_items(k) for k in sessions.knn.sessions()},
        "latest": {k: sessions.latest.session_items(k) for k in sessions.latest.sessions()},
        "current": dict(sessions.current),
        "log_seq": (engine._log_seq, engine.last_seq),
    }


def check_same(url: str) -> int:
    """Both rebuilds give the same counters; returns the log's events."""
    got = []
    for count in (count_before, count_after):
        engine = Engine(open_storage(url))
        engine._index_items(list(engine.storage.items()))
        count(engine)
        got.append(counters(engine))
        engine.storage.close()
    old, new = got
    for key in ("trending", "trending_fast"):
        np.testing.assert_allclose(new[key], old[key], rtol=1e-9, atol=1e-12)
    for key in old:
        if key not in ("trending", "trending_fast", "ctr", "interactions"):
            assert new[key] == old[key], key
    np.testing.assert_array_equal(new["interactions"], old["interactions"])
    for a, b in zip(new["ctr"][:2], old["ctr"][:2], strict=True):  # type: ignore[index]
        np.testing.assert_array_equal(a, b)
    return int(open_storage(url).counts()["events"])


def row(name: str, url: str, repeats: int) -> str:
    n_log = check_same(url)
    read = measure("read", url, repeats)
    old = measure("before", url, repeats)
    new = measure("after", url, repeats)
    return (f"| {name} | {n_log:,} | {read['items_s']:.2f} | {read['seconds']:.2f} "
            f"({read['peak_mb']:.0f} MB) | {old['seconds']:.2f} | {new['seconds']:.2f} | "
            f"{old['seconds'] / new['seconds']:.1f}× | {old['peak_mb']:.0f} | "
            f"{new['peak_mb']:.0f} |")  # fmt: skip


def redis_rows(args: argparse.Namespace, work: Path) -> list[str]:
    out = []
    with redis_log(work, args.events, args.days, with_items) as (storage, url, newest, folder):
        days = args.retention_days
        archive_log(storage, retention_s=days * DAY, folder=folder, now=newest,
                    max_events=100_000)  # fmt: skip
        live = int(storage.client.xlen(storage.key("log")))
        out.append(row(f"Redis, {days:g} days live ({live:,})", url, args.repeats))
        print(out[-1], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=100.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,redis")
    parser.add_argument("--retention-days", type=float, default=14.0)
    parser.add_argument("--work", type=Path,
                        default=Path(tempfile.gettempdir()) / "pulserec-start-read")  # fmt: skip
    parser.add_argument("--child", choices=sorted(PHASES))
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url)
        return
    args.work.mkdir(parents=True, exist_ok=True)
    backends = args.backends.split(",")
    rows: list[str] = []
    header = (f"{args.events:,} events over {args.days:g} days, {N_ITEMS:,} items; medians "
              f"of {args.repeats} runs, each in a fresh process")  # fmt: skip
    print(header, flush=True)
    if "sqlite" in backends:
        url = sqlite_log(args.work, args.events, args.days)
        storage = open_storage(url)
        with_items(storage)
        storage.close()
        rows.append(row("SQLite", url, args.repeats))
        print(rows[-1], flush=True)
    if "redis" in backends:
        if shutil.which("redis-server") is None:
            print("no redis-server: Redis left out")
        else:
            rows += redis_rows(args, args.work)
    print(f"\n{header}\n")
    print("| storage | log events | items s | read only s (peak) | counters before s | "
          "counters after s | faster | before peak MB | after peak MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
