"""Item-side signals learned online, on every event, between refits.

- trending at two time scales: a slow one (days) that suits catalogs whose taste moves
  slowly, and a fast one (an hour) that follows news and launches;
- co-visitation of consecutive items: each positive event pairs its item with the user's
  few previous ones, decayed over time, so an item published an hour ago already has
  neighbours long before the next refit;

A refit's validation replay keeps its own :class:`LiveSignals`, so the ranking weights
of these features are fitted on what was known at each moment, never on the future.
"""

from __future__ import annotations

import math

import numpy as np

from pulserec.engine.trending import Trending


class LiveCovisit:
    """Decayed co-visitation counts of item pairs, updated per event, memory bounded.

    Values are kept relative to a reference time and rescaled now and then, so adding is
    O(1) and reading a value decays it to the reading time.
    """

    def __init__(self, half_life_s: float, max_neighbours: int) -> None:
        self.rate = math.log(2.0) / half_life_s
        self.max_neighbours = max_neighbours
        self.rows: dict[int, dict[int, float]] = {}
        self.ref_ts: float | None = None
        self.pairs = 0

    def _scale(self, ts: float) -> float:
        if self.ref_ts is None:
            self.ref_ts = ts
        exponent = self.rate * (ts - self.ref_ts)
        if exponent > 50.0:  # rebase before the stored numbers grow out of range
            shrink = math.exp(-exponent)
            for row in self.rows.values():
                for j in row:
                    row[j] *= shrink
            self.ref_ts = ts
            exponent = 0.0
        return math.exp(exponent)

    def add(self, previous: list[int], item: int, ts: float) -> None:
        """Pair ``item`` with the user's ``previous`` items (newest first) both ways."""
        if not previous:
            return
        weight = self._scale(ts)
        for rank, other in enumerate(previous):
            if other == item:
                continue
            w = weight / (1.0 + rank)  # the item just before counts most
            self._bump(other, item, w)
            self._bump(item, other, w)
            self.pairs += 1

    def _bump(self, a: int, b: int, w: float) -> None:
        row = self.rows.get(a)
        if row is None:
            row = self.rows[a] = {}
        row[b] = row.get(b, 0.0) + w
        if len(row) > self.max_neighbours:
            del row[min(row, key=row.__getitem__)]

    def votes(
        self, recent: list[int], decay: float, ts: float
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Votes of the user's ``recent`` items (newest first) at time ``ts``:
        ``(items, votes)``, items sorted; older recent items count ``decay`` times less."""
        if self.ref_ts is None:
            return None
        keys: list[int] = []
        vals: list[float] = []
        for rank, item in enumerate(recent):
            row = self.rows.get(item)
            if row:
                keys.extend(row)
                w = decay**rank
                vals.extend(v * w for v in row.values())
        if not keys:
            return None
        items, inverse = np.unique(np.asarray(keys, dtype=np.int64), return_inverse=True)
        now = math.exp(-self.rate * (ts - self.ref_ts))
        return items, np.bincount(inverse, weights=np.asarray(vals) * now)


class LiveSignals:
    """Trending at two scales and live co-visitation, per event."""

    def __init__(
        self,
        slow_half_life_s: float,
        fast_half_life_s: float,
        covisit_half_life_s: float,
        covisit_neighbours: int = 100,
    ) -> None:
        self.trending = Trending(slow_half_life_s)
        self.trending_fast = Trending(fast_half_life_s)
        self.covisit = LiveCovisit(covisit_half_life_s, covisit_neighbours)
        self.pairs_frozen = False

    @property
    def now(self) -> float:
        """The latest event time counted."""
        return max(self.trending.ref_ts, self.trending_fast.ref_ts)

    def add(self, item: int, ts: float, previous: list[int] | None = None) -> None:
        """Count a positive event on ``item``; ``previous`` are the user's items before it
        (newest first), or None where they are not known (the log read at start)."""
        self.trending.add(item, ts)
        self.trending_fast.add(item, ts)
        if previous and not self.pairs_frozen:
            self.covisit.add(previous, item, ts)
