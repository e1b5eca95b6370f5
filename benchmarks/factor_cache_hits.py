"""How often the factor source's kept candidates would answer, on real event streams.

    python benchmarks/factor_cache_hits.py --data-dir ../shared/data

The factor source's query, a user's long-term vector, changes only at a refit, so the
engine keeps each user's candidates until the next one (``engine.factor_cache_users``, an
LRU). This replays the events of a dataset in time order with one request after each
event and a refit every ``--refit-s`` seconds (a user is known to the models once they
had an event before the latest refit; the kept lists go at each refit), and counts the
requests of known users (the only ones the factor source runs for) that find their list.
No model is fitted: the count depends only on who comes back when.
"""

from __future__ import annotations

import argparse
from collections import OrderedDict
from pathlib import Path

import pandas as pd


def globo(data_dir: Path) -> pd.DataFrame:
    files = sorted((data_dir / "globo-news-clicks-day1").glob("clicks_hour_*.csv"))
    frame = pd.concat(pd.read_csv(p, usecols=["user_id", "click_timestamp"]) for p in files)
    return pd.DataFrame({"user_id": frame.user_id, "ts": frame.click_timestamp / 1000.0})


def movielens(data_dir: Path) -> pd.DataFrame:
    frame = pd.read_csv(data_dir / "ml-latest-small" / "ratings.csv")
    return pd.DataFrame({"user_id": frame.userId, "ts": frame.timestamp.astype(float)})


def replay(frame: pd.DataFrame, refit_s: float, max_users: int) -> tuple[int, int, int]:
    """(requests, requests of users the models know, those that find their list)."""
    frame = frame.sort_values("ts", kind="stable")
    users, times = frame.user_id.tolist(), frame.ts.tolist()
    known: set[object] = set()
    seen: set[object] = set()
    kept: OrderedDict[object, None] = OrderedDict()
    next_refit = times[0] + refit_s
    n_known = hits = 0
    for user, ts in zip(users, times, strict=True):
        while ts >= next_refit:  # a refit: the models know everyone seen so far
            known |= seen
            kept.clear()
            next_refit += refit_s
        seen.add(user)
        if user not in known:
            continue
        n_known += 1
        if user in kept:
            hits += 1
            kept.move_to_end(user)
        else:
            kept[user] = None
            if len(kept) > max_users:
                kept.popitem(last=False)
    return len(users), n_known, hits


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--max-users", type=int, default=20_000)
    args = parser.parse_args()
    print("| dataset | refit every | requests | of users the models know | lists found |")
    print("|---|---|---:|---:|---:|")
    for name, load in (("globo-news-clicks-day1", globo), ("ml-latest-small", movielens)):
        frame = load(args.data_dir)
        for refit_s, label in ((3600.0, "hour"), (86400.0, "day")):
            n, n_known, hits = replay(frame, refit_s, args.max_users)
            print(f"| {name} | {label} | {n} | {n_known} | {hits} ({hits / max(n_known, 1):.1%}) |")


if __name__ == "__main__":
    main()
