"""What the catalog's grouping by category costs: the first ``category_members`` call
after an upsert, and each upsert.

    python benchmarks/category_groups.py --items 100000 --categories 20,200,2000 --reps 50

Two :class:`~pulserec.engine.items.LiveItems` (no text encoder) hold the same ``--items``
items, each in one of ``--categories`` categories drawn uniformly. "after" keeps the
grouping up to date per upsert (engine/groups.py); "before" groups as LiveItems did
until then (:class:`RegroupFromScratch` below): every upsert drops the grouping and the
first ``category_members`` call rebuilds it, one stable argsort of every item's code.

Each round upserts one item into both (a new item, an existing item moved to another
category, an existing item upserted unchanged, in turn) and times the whole upsert, then
the ``category`` candidate source's call: ``category_members`` of the upserted item's
category (both must give the same members, checked every round); which of the two goes
first alternates. The batch row upserts ``--batch`` items at once, half new and half
existing ones given a random category. Medians in microseconds, wall clock; run it with
``nice`` on a shared machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

import numpy as np

from pulserec.engine.config import EngineConfig
from pulserec.engine.groups import Groups
from pulserec.engine.items import LiveItems
from pulserec.types import Item


class RegroupFromScratch(Groups):
    """The grouping as LiveItems kept it before it was incremental: the code array grown
    by a copy, the grouping dropped on each upsert and rebuilt by the next call."""

    def __init__(self) -> None:
        super().__init__()
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None

    def resize(self, n: int) -> None:
        if n > self._n:
            self._codes = np.r_[self._codes[: self._n], np.full(n - self._n, -1, np.int64)]
            self._n = n
            self._sorted = None

    def assign(self, idx: np.ndarray, codes: Sequence[int] | np.ndarray) -> None:
        self._codes[idx] = codes
        self._sorted = None

    def members(self, code: int) -> np.ndarray:
        if self._sorted is None:
            order = np.argsort(self.codes, kind="stable")
            self._sorted = (order, self.codes[order])
        order, sorted_codes = self._sorted
        lo, hi = np.searchsorted(sorted_codes, [code, code + 1])
        found: np.ndarray = order[lo:hi]
        return found


KINDS = ("new item", "moved item", "unchanged item")


def run(n_items: int, n_categories: int, reps: int, batch: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    before, after = LiveItems(None, EngineConfig()), LiveItems(None, EngineConfig())
    before.category_groups = RegroupFromScratch()
    names = [f"c{c}" for c in range(n_categories)]
    catalog = [Item(f"i{j}", categories=(names[c],))
               for j, c in enumerate(rng.integers(0, n_categories, n_items).tolist())]  # fmt: skip
    for live in (before, after):
        live.upsert(catalog)
    rows: dict[str, tuple[list[float], list[float]]] = {
        k: ([], []) for k in ("first call", *KINDS, f"batch of {batch}")
    }

    def timed(live: LiveItems, items: list[Item], out: list[float]) -> int:
        t0 = time.perf_counter()
        live.upsert(items)
        out.append(time.perf_counter() - t0)
        return int(live.category[live.catalog.idx(items[0].item_id)])

    def first_call(code: int, warm: bool, flip: bool) -> None:
        found = {}
        for which in (1, 0) if flip else (0, 1):
            t0 = time.perf_counter()
            found[which] = (before, after)[which].category_members(code)
            if warm:
                rows["first call"][which].append(time.perf_counter() - t0)
        if not np.array_equal(found[0], found[1]):
            raise AssertionError(f"category {code}: the groupings differ")

    for r in range(3 * (reps + 1)):
        kind, warm = KINDS[r % 3], r >= 3  # the first round of each kind warms up
        if kind == "new item":
            upsert = [Item(f"new{r}", categories=(names[int(rng.integers(n_categories))],))]
        else:
            item = after.catalog.at(int(rng.integers(len(after))))
            now = names.index(item.categories[0])
            if kind == "moved item":
                now = (now + 1 + int(rng.integers(n_categories - 1))) % n_categories
            upsert = [Item(item.item_id, categories=(names[now],))]
        outs: tuple[list[float], list[float]] = rows[kind] if warm else ([], [])
        flip = bool(r // 3 % 2)  # which one goes first alternates: neither warms the other
        codes = [timed((before, after)[w], upsert, outs[w]) for w in ((1, 0) if flip else (0, 1))]
        if codes[0] != codes[1]:
            raise AssertionError("the codes differ")
        first_call(codes[0], warm, flip)
    for r in range(max(reps // 5, 3)):
        n = len(after)
        upsert = [Item(f"b{r}-{j}", categories=(names[int(rng.integers(n_categories))],))
                  for j in range(batch // 2)]  # fmt: skip
        upsert += [
            Item(after.catalog.at(j).item_id, categories=(names[int(rng.integers(n_categories))],))
            for j in rng.choice(n, batch - batch // 2, replace=False).tolist()
        ]
        code = timed(before, upsert, rows[f"batch of {batch}"][0])
        timed(after, upsert, rows[f"batch of {batch}"][1])
        first_call(code, False, False)
    if not np.array_equal(before.category, after.category):
        raise AssertionError("the codes differ")
    label = f"{n_categories} (~{n_items // n_categories:,} items each)"
    lines = []
    for key, (old, new) in rows.items():
        what = (
            "first `category_members` after an upsert"
            if key == "first call"
            else f"`upsert`, {key}"
        )
        added = statistics.median(new) - statistics.median(old)
        lines.append(f"| {label} | {what} | {us(old)} | {us(new)} | {added * 1e6:+,.1f} |")
        label = ""
    return lines


def us(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1e6:,.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--categories", default="20,200,2000", help="comma-separated counts")
    parser.add_argument("--reps", type=int, default=50, help="rounds per kind of upsert")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{args.items:,} items; medians of {args.reps} rounds (batch: {max(args.reps // 5, 3)}),"
          " microseconds")  # fmt: skip
    print()
    print("| categories | what | before (regroup from scratch) | after (kept per upsert) "
          "| after − before |")  # fmt: skip
    print("|---|---|---:|---:|---:|")
    for n_categories in (int(c) for c in args.categories.split(",")):
        for line in run(args.items, n_categories, args.reps, args.batch, args.seed):
            print(line)


if __name__ == "__main__":
    main()
