"""Redis memory per event of the shared deployment's log, before and after archiving.

    python benchmarks/redis_memory.py --data-dir ../shared/data/ml-latest-small

Appends a dataset's events in time order (ids with an ``event_id`` each, as clients send
them) to a throwaway ``redis-server`` through :class:`pulserec.storage.redis.RedisStorage`
and reads ``INFO memory``: every event lands in the global log stream, in its user's
stream and (its id) in the retry-detection hash.

Then :func:`pulserec.storage.redis_archive.archive_log` moves the events older than a
window keeping the last ``--keep`` of the data's time span (the clock set to its newest
event) to Parquet, and memory is read again: once right after the run, while the archived
events' ids are still young (a retry of them is refused for ``retention_s`` after their
arrival), and once after they age out, which a second run sees when the first run's mark
of the sequence counter is older than the window (simulated by backdating that mark).
Also timed: the run, a whole-log read (what a refit reads) before and after, and one
user's deletion, which rewrites the archive files holding them.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from pulserec.config import get_settings
from pulserec.evaluation.replay import to_events
from pulserec.events import load_dataset
from pulserec.storage import open_storage
from pulserec.storage.archive import LogArchive
from pulserec.storage.redis import RedisStorage
from pulserec.storage.redis_archive import archive_log


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def used(storage: RedisStorage) -> int:
    return int(storage.client.info("memory")["used_memory"])


def read_all(storage: RedisStorage) -> tuple[int, float]:
    t0 = time.perf_counter()
    n = sum(1 for _ in storage.events())
    return n, time.perf_counter() - t0


def stage(name: str, storage: RedisStorage, base: int, n_events: int) -> str:
    client, key = storage.client, storage.key
    users = client.scard(key("users"))
    streams = sum(client.xlen(k) for k in client.scan_iter(key("u:*"), count=1000))
    mb = (used(storage) - base) / 1e6
    return (f"| {name} | {mb:.1f} | {(used(storage) - base) / n_events:.0f} | "
            f"{client.xlen(key('log')):,} | {streams:,} | {client.hlen(key('eids')):,} | "
            f"{users:,} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--data-dir", type=Path, default=get_settings().dataset_dir("ml-latest-small")
    )
    parser.add_argument("--keep", type=float, default=0.1,
                        help="share of the data's time span the window keeps")  # fmt: skip
    args = parser.parse_args()
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install -y redis-server)")
    ds = load_dataset("ml-latest-small", args.data_dir, verbose=False)
    frame = ds.events.sort_values("timestamp", kind="stable")
    events = [replace(e, event_id=f"ev-{i:09d}") for i, e in enumerate(to_events(frame))]
    first, last = events[0].timestamp, events[-1].timestamp
    retention_s = (last - first) * args.keep
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", folder],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            time.sleep(0.5)
            storage = open_storage(f"redis://127.0.0.1:{port}/0")
            assert isinstance(storage, RedisStorage)
            client = storage.client
            base = used(storage)
            for start in range(0, len(events), 1000):
                storage.append(events[start : start + 1000])
            after = used(storage)
            n_users = ds.events["user_id"].nunique()
            per_event = (after - base) / len(events)
            log = client.memory_usage(storage.key("log"), samples=0)
            eids = client.memory_usage(storage.key("eids"), samples=0)
            print(f"{len(events)} events of {n_users} users: {after - base:,} bytes, "
                  f"{per_event:.0f} bytes per event (global log stream alone "
                  f"{log / len(events):.0f}, event ids {eids / len(events):.0f}), "
                  f"{(after - base) / n_users / 1024:.0f} KiB per user at "
                  f"{len(events) / n_users:.0f} events each")  # fmt: skip
            rows = [stage("appended", storage, base, len(events))]
            n_read, read_before = read_all(storage)

            archive_dir = Path(folder) / "archive"
            report = archive_log(
                storage, retention_s=retention_s, folder=archive_dir, now=last
            )
            rows.append(stage("archived (ids still young)", storage, base, len(events)))
            # age the first run's mark of the counter past the window: its ids may go
            marks = storage.key("seq_marks")
            for member, score in client.zrange(marks, 0, -1, withscores=True):
                client.zadd(marks, {member: score - retention_s - 1})
            aged = archive_log(storage, retention_s=retention_s, folder=archive_dir, now=last)
            rows.append(stage("archived, ids aged out", storage, base, len(events)))
            n_after, read_after = read_all(storage)
            assert n_after == n_read == len(events)

            archive = LogArchive(archive_dir / storage.prefix)
            parquet = sum(f.path.stat().st_size for f in archive.files())
            victim = frame["user_id"].astype(str).value_counts().index[0]
            t0 = time.perf_counter()
            removed = storage.delete_user(victim)
            delete_s = time.perf_counter() - t0

            days = (last - first) / 86_400
            print(f"\nwindow: the last {args.keep:.0%} of {days:,.0f} days, "
                  f"{retention_s / 86_400:,.0f} days; archived {report.events:,} of "
                  f"{len(events):,} events into {len(report.files)} file(s) in "
                  f"{report.seconds:.2f} s; the second run dropped {aged.ids_dropped:,} "
                  "event ids\n")  # fmt: skip
            print("| Redis after | MB | bytes per event of the log | log entries | "
                  "user-stream entries | event ids | users |")  # fmt: skip
            print("|---|---:|---:|---:|---:|---:|---:|")
            print("\n".join(rows))
            print(f"\n| archive | figure |\n|---|---:|\n"
                  f"| Parquet bytes | {parquet:,} |\n"
                  f"| Parquet bytes per archived event | {parquet / report.events:.1f} |\n"
                  f"| archive run, s | {report.seconds:.2f} |\n"
                  f"| archive run, events/s | {report.events / report.seconds:,.0f} |\n"
                  f"| whole-log read before, s | {read_before:.2f} |\n"
                  f"| whole-log read after (files, then the live log), s | {read_after:.2f} |\n"
                  f"| deleting the heaviest user ({removed:,} events), s | "
                  f"{delete_s:.2f} |")  # fmt: skip
            storage.close()
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
