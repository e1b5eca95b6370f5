"""Plain lists on a visits-like variant: what the crowd's counts and one category take.

    python benchmarks/plain_lists.py --variant trend-0.3

A yardstick for the engine's replay of the same variant (``benchmarks/shape_sweep.py``):
at every scored event of the replay's protocol (time order, cut at 80 % of the timeline,
a positive event of an item the user has not taken, by a user with at least one positive
event before it), three plain lists are built from decayed counts that know only the
past, the user's items excluded, and their HitRate@10 printed per history segment:

- the last hour's top 10 (1-hour half-life);
- ``k`` items of the category most frequent among the user's latest three items (the
  latest one's among equals), the category's most counted at a 3-day half-life, then
  the last hour's top to ten.

Where such a list takes more than the engine, the engine leaves a signal unused.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np

from pulserec.config import DEFAULT_SEED
from pulserec.engine.segments import NAMES as SEGMENT_NAMES
from pulserec.engine.segments import segment_at
from pulserec.evaluation.synthetic import PRESETS, generate
from shape_sweep import SEGMENTS, VARIANTS

HALF_LIVES = {"1h": 3600.0, "3d": 3 * 86400.0}
CATEGORY_ITEMS = (2, 4, 6)


def top_unseen(scores: np.ndarray, n: int, seen: list[int]) -> np.ndarray:
    """The ``n`` items with the highest ``scores``, best first, ``seen`` left out."""
    s = scores.copy()
    s[seen] = -1.0
    top = np.argpartition(-s, n)[:n]
    return top[np.argsort(-s[top], kind="stable")]  # type: ignore[no-any-return]


def replay_lists(variant: str) -> dict[tuple[str, str], list[bool]]:
    ds = generate(
        replace(PRESETS["visits-like"], **VARIANTS[variant]), seed=DEFAULT_SEED, name=variant
    )
    events = ds.events.sort_values("timestamp", kind="stable")
    index = {item: j for j, item in enumerate(ds.items["item_id"])}
    category = np.array([a["topic"] for a in ds.items["attributes"]])
    members = {c: np.flatnonzero(category == c) for c in np.unique(category)}
    t = events["timestamp"].to_numpy()
    cut = t[0] + 0.8 * (t[-1] - t[0])
    users = events["user_id"].to_numpy()
    items = np.array([index[i] for i in events["item_id"]])
    rates = {k: np.log(2) / h for k, h in HALF_LIVES.items()}
    counts = {k: np.zeros(len(index)) for k in HALF_LIVES}
    origin = dict.fromkeys(HALF_LIVES, float(t[0]))  # counts are kept scaled to this time
    history: dict[str, list[int]] = {}
    hits: dict[tuple[str, str], list[bool]] = {}
    for user, item, ts in zip(users, items, t, strict=True):
        for k, rate in rates.items():
            if (ts - origin[k]) * rate > 300:  # rescale before exp overflows
                counts[k] *= np.exp(-(ts - origin[k]) * rate)
                origin[k] = float(ts)
        seen = history.setdefault(user, [])
        if ts >= cut and item not in seen and seen:
            seg = SEGMENT_NAMES[segment_at(len(seen))]
            hour = counts["1h"]
            best = top_unseen(hour, 10 + max(CATEGORY_ITEMS), seen)
            lists = {"last hour's top 10": best[:10]}
            latest = [int(category[j]) for j in seen[-3:]]
            # the most frequent; of equally frequent ones, the latest
            mine = max(set(latest), key=lambda c: (latest.count(c), latest[::-1].index(c) * -1))
            pool = members[mine]
            ranked = pool[np.argsort(-np.where(np.isin(pool, seen), -1.0, counts["3d"][pool]))]
            for k in CATEGORY_ITEMS:
                head = ranked[:k]
                fill = best[~np.isin(best, head)]  # best first: the last hour's top up to ten
                lists[f"{k} of the category + the last hour's top"] = np.r_[head, fill[: 10 - k]]
            for name, found in lists.items():
                hits.setdefault((seg, name), []).append(bool(item in set(found.tolist())))
        for k, rate in rates.items():
            counts[k][item] += np.exp((ts - origin[k]) * rate)
        if item not in seen:
            seen.append(item)
    return hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", default="trend-0.3", choices=list(VARIANTS))
    args = parser.parse_args()
    hits = replay_lists(args.variant)
    names = sorted({name for _, name in hits}, key=lambda n: (n[0].isdigit(), n))
    segments = SEGMENTS
    print(f"{args.variant}: HitRate@10 by the user's positive events before")
    print("| list | " + " | ".join(segments) + " |")
    print("|---|" + "---:|" * len(segments))
    for name in names:
        cells = [
            f"{np.mean(hits[(s, name)]):.4f}" if (s, name) in hits else "n/a" for s in segments
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")
    counts = [str(len(hits.get((s, names[0]), []))) for s in segments]
    print("| scored events | " + " | ".join(counts) + " |")


if __name__ == "__main__":
    main()
