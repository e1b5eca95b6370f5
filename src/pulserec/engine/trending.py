"""Live trending: exponentially decayed interaction counts per item, updated per event."""

from __future__ import annotations

import math

import numpy as np

from pulserec.engine.arrays import top_indices


class Trending:
    """Decayed interaction counts per item; the values are kept at one reference time.

    Adding an event at a later time first decays every value to that time, so numbers
    stay bounded however long the process runs.
    """

    def __init__(self, half_life_s: float) -> None:
        self.rate = math.log(2.0) / half_life_s
        self.values = np.zeros(0, dtype=np.float64)
        self.ref_ts = 0.0  # values are expressed at this reference time
        self.adds = 0
        self._top: dict[int, tuple[tuple[int, int], np.ndarray]] = {}

    def _grow(self, n: int) -> None:
        if n > len(self.values):
            self.values = np.r_[self.values, np.zeros(n - len(self.values))]

    def add(self, item_idx: int, ts: float, weight: float = 1.0) -> None:
        """Count one interaction with ``item_idx`` at time ``ts``."""
        self.adds += 1
        self._grow(item_idx + 1)
        if ts > self.ref_ts:
            self.values *= math.exp(-self.rate * (ts - self.ref_ts))
            self.ref_ts = ts
        self.values[item_idx] += weight * math.exp(-self.rate * (self.ref_ts - ts))

    def add_many(self, items: np.ndarray, ts: np.ndarray) -> None:
        """Count one interaction with each of ``items`` at the times ``ts``: as many calls
        of :meth:`add`, in one pass (equal up to rounding: the sum's order differs)."""
        if not len(items):
            return
        self.adds += len(items)
        self._grow(int(items.max()) + 1)
        newest = float(ts.max())
        if newest > self.ref_ts:
            self.values *= math.exp(-self.rate * (newest - self.ref_ts))
            self.ref_ts = newest
        np.add.at(self.values, items, np.exp(-self.rate * (self.ref_ts - ts)))

    def scores(self, n_items: int) -> np.ndarray:
        """The decayed count of every item of a catalog of ``n_items``."""
        self._grow(n_items)
        return self.values[:n_items]

    def top(self, n: int, n_items: int) -> np.ndarray:
        """The ``n`` most trending items, recomputed after every 64 events at most."""
        key = (n_items, self.adds // 64)
        found = self._top.get(n)
        if found is None or found[0] != key:
            if len(self._top) > 8:  # a few list sizes are asked for; keep it bounded
                self._top.clear()
            found = self._top[n] = (key, top_indices(self.scores(n_items), n))
        return found[1]
