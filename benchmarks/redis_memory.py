"""Redis memory per event and per user of the shared deployment's log.

    python benchmarks/redis_memory.py --data-dir ../shared/data/ml-latest-small

Appends a dataset's events (ids with an ``event_id`` each, as clients send them) to a
throwaway ``redis-server`` through :class:`pulserec.storage.redis.RedisStorage` and reads
``INFO memory`` before and after: every event lands in the global log stream, in its
user's stream and (its id) in the retry-detection set.
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--data-dir", type=Path, default=get_settings().dataset_dir("ml-latest-small")
    )
    args = parser.parse_args()
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install -y redis-server)")
    ds = load_dataset("ml-latest-small", args.data_dir, verbose=False)
    events = [replace(e, event_id=f"ev-{i:09d}") for i, e in enumerate(to_events(ds.events))]
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
            client = storage.client  # type: ignore[attr-defined]
            before = int(client.info("memory")["used_memory"])
            for start in range(0, len(events), 1000):
                storage.append(events[start : start + 1000])
            after = int(client.info("memory")["used_memory"])
            n_users = ds.events["user_id"].nunique()
            per_event = (after - before) / len(events)
            log = client.memory_usage(storage.key("log"), samples=0)  # type: ignore[attr-defined]
            print(f"{len(events)} events of {n_users} users: {after - before:,} bytes, "
                  f"{per_event:.0f} bytes per event (global log stream alone "
                  f"{log / len(events):.0f}), {(after - before) / n_users / 1024:.0f} KiB "
                  f"per user at {len(events) / n_users:.0f} events each")  # fmt: skip
            storage.close()
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
