"""Live trending: exponentially decayed interaction counts per item, updated per event.

The top list is cached and recomputed every :data:`TOP_EVERY` events (or after a drift
of time). Recomputing it over the whole catalog took about 1 ms at 100k items, paid by
the request that found the list stale (one in 64 after an event, for each of the two
scales at once): the 99th percentile's worst requests. Decay multiplies every value by
the same factor and an event only adds to its item, so the items that can enter the list
are those of the previous list and those counted since: the recompute ranks those alone
(a hundred or so) and gives the list the whole catalog would, item for item. Where ties
could make the two differ (equal values in or at the edge of the list, a zero in it, a
count lowered), it ranks the whole catalog as before.

Counts are kept at an anchor time and an event adds its weight grown to that time, so an
event touches one item, not the catalog: decaying every count at each event took 12-24
µs a scale at 100k items (three scales: most of an event's ingest), ten times that at a
million. Reading absolute counts multiplies by the decay since the anchor (:meth:`at` for
a request's candidates); order and ratios read the kept values as they are (:meth:`raw`).
"""

from __future__ import annotations

import numpy as np

from pulserec.engine.arrays import top_indices
from pulserec.engine.decay import DecayClock

TOP_EVERY = 64
"""Events after which a cached top list is recomputed."""

TOP_DRIFT = 1.0 / 16.0
"""Share of the half-life after which a cached top list is recomputed whatever the
count of events: where events are sparse, 64 of them may span weeks, and an item that
arrived meanwhile and leads the counts now stays out of the list (in the amazon-reviews
replay, the 1-hour top 50 held the item of 91 % of the events on items new since the cut,
the list cached per 64 events 64 %)."""

Cached = tuple[tuple[int, int, float], np.ndarray, bool]
"""A cached top list: (catalog size, adds, reference time) when computed, the list, and
whether it is untied."""

REBASE = 16.0
"""``rate × (latest time − anchor)`` past which the counts are brought to the latest time
and the anchor moves there (one pass over the catalog): an event's weight grows by at
most e^16 ≈ 9e6 before it, far inside float64's range and precision. At a 10-minute
half-life that is once in about four hours of events."""

UNDERFLOW = 700.0
"""``rate × (latest time − anchor)`` from which a move of the anchor zeroes the counts:
every one has decayed below float64's range."""

MAX_TOUCHED = 4096
"""Items counted since the oldest cached list that are remembered for its recompute; past
it (a list size not asked for a while) the lists are recomputed over the whole catalog."""


class Trending:
    """Decayed interaction counts per item, as of the latest event counted (``ref_ts``).

    The values are kept at an anchor time (``base_ts``, held by a
    :class:`~pulserec.engine.decay.DecayClock`): the count of an item is its value times
    ``e^{-rate (ref_ts - base_ts)}`` (:attr:`scale`). The anchor moves to the latest time
    once that factor passes ``e^-REBASE``, so numbers stay bounded however long the
    process runs.
    """

    def __init__(self, half_life_s: float) -> None:
        self.half_life_s = half_life_s
        self.clock = DecayClock(half_life_s, REBASE, anchor_ts=0.0, zero_past=UNDERFLOW)
        self.values = np.zeros(0, dtype=np.float64)  # counts expressed at ``base_ts``
        self.kept_total = 0.0  # the sum of ``values``, kept as they change
        self.ref_ts = 0.0  # the latest event time counted: counts are read as of it
        self.adds = 0
        # per list size: (catalog size, adds, reference time) when computed, the list, and
        # whether it is untied (its values and the next one's distinct, none zero)
        self._top: dict[int, Cached] = {}
        # the items counted since ``adds`` was ``_touched_from``, in order
        self._touched: list[int] = []
        self._touched_from = 0
        self._lowered_at = -1  # ``adds`` after the latest count that lowered a value

    def _grow(self, n: int) -> None:
        if n > len(self.values):
            self.values = np.r_[self.values, np.zeros(n - len(self.values))]

    @property
    def rate(self) -> float:
        """The decay rate, ``ln 2 / half_life_s``."""
        return self.clock.rate

    @property
    def base_ts(self) -> float:
        """The anchor time: the kept values are the counts as of it."""
        return self.clock.anchor_ts

    def _advance(self, ts: float) -> None:
        """Move the reference time forward to ``ts``, if later."""
        if ts > self.ref_ts:
            self.ref_ts = ts

    def _shrink(self, factor: float | None) -> None:
        """Bring the kept values to the anchor the clock has just moved to, if it did."""
        if factor is None:
            return
        if factor > 0.0:
            self.values *= factor
            self.kept_total *= factor
        else:
            self.values[:] = 0.0
            self.kept_total = 0.0

    @property
    def scale(self) -> float:
        """The factor from the kept values to the counts as of ``ref_ts``."""
        return self.clock.decay(self.ref_ts)

    def add(self, item_idx: int, ts: float, weight: float = 1.0) -> None:
        """Count one interaction with ``item_idx`` at time ``ts``."""
        self.adds += 1
        self._grow(item_idx + 1)
        self._advance(ts)
        growth, shrink = self.clock.grow(ts)
        self._shrink(shrink)
        added = weight * growth
        self.values[item_idx] += added
        self.kept_total += added
        self._touch([item_idx], lowered=not weight > 0)

    def add_many(self, items: np.ndarray, ts: np.ndarray) -> None:
        """Count one interaction with each of ``items`` at the times ``ts``: as many calls
        of :meth:`add`, in one pass (equal up to rounding: the sum's order differs)."""
        if not len(items):
            return
        self.adds += len(items)
        self._grow(int(items.max()) + 1)
        latest = float(ts.max())
        self._advance(latest)
        self._shrink(self.clock.rebase(latest))
        grown = self.clock.grow_many(ts)
        np.add.at(self.values, items, grown)
        self.kept_total += float(grown.sum())
        if len(items) > MAX_TOUCHED:
            self._touch([], lowered=False, reset=True)
        else:
            self._touch(items.tolist(), lowered=False)

    def _touch(self, items: list[int], *, lowered: bool, reset: bool = False) -> None:
        """Remember the items just counted (``adds`` already counts them)."""
        if lowered:
            self._lowered_at = self.adds
        if reset or len(self._touched) + len(items) > MAX_TOUCHED:
            self._touched = []
            self._touched_from = self.adds
            return
        self._touched.extend(items)

    def scores(self, n_items: int) -> np.ndarray:
        """The decayed count of every item of a catalog of ``n_items`` (a new array: one
        pass over the catalog)."""
        self._grow(n_items)
        out: np.ndarray = self.values[:n_items] * self.scale
        return out

    def raw(self, n_items: int) -> np.ndarray:
        """Values proportional to :meth:`scores` (the same order and ratios), without the
        pass: a view of the kept values."""
        self._grow(n_items)
        return self.values[:n_items]

    def at(self, items: np.ndarray) -> np.ndarray:
        """The decayed counts of ``items`` (catalog indices; 0 past the counted ones)."""
        try:
            kept = self.values[items]
        except IndexError:  # an item past those counted: grow, then read
            self._grow(int(items.max()) + 1)
            kept = self.values[items]
        out: np.ndarray = kept * self.scale
        return out

    def top(self, n: int, n_items: int) -> np.ndarray:
        """The ``n`` most trending items, recomputed after :data:`TOP_EVERY` events or
        once the counts have decayed for :data:`TOP_DRIFT` of the half-life, at most."""
        return self.ranked(n, n_items)[0]

    def ranked(self, n: int, n_items: int) -> tuple[np.ndarray, bool]:
        """:meth:`top`'s list and whether it is untied: its values strictly decreasing,
        none zero, and every item outside it below its last (then the items of any subset
        of the catalog found in it are that subset's own top items, in order)."""
        found = self._top.get(n)
        if found is None or self._stale(found[0], n_items):
            if len(self._top) > 8:  # a few list sizes are asked for; keep it bounded
                self._top.clear()
            listed, untied = self._top_n(n, n_items, found)
            found = self._top[n] = ((n_items, self.adds, self.ref_ts), listed, untied)
            # what no cached list will read again goes
            oldest = min(entry[0][1] for entry in self._top.values())
            if oldest > self._touched_from:
                del self._touched[: oldest - self._touched_from]
                self._touched_from = oldest
        return found[1], found[2]

    def _top_n(self, n: int, n_items: int, previous: Cached | None) -> tuple[np.ndarray, bool]:
        """The ``n`` most trending items and whether that list is untied: from the
        previous list and the items counted since where that gives the same list, else
        over the whole catalog."""
        if previous is not None and previous[2] and n < n_items:
            (size, adds, _), listed, _ = previous
            if size == n_items and adds >= self._touched_from and adds >= self._lowered_at:
                since = np.asarray(self._touched[adds - self._touched_from :], dtype=np.int64)
                cands = np.union1d(listed, since[since < n_items])
                if len(cands) > n:
                    values = self.values[cands]
                    best = top_indices(values, n + 1)
                    top = values[best]
                    if top[n - 1] > 0 and bool(np.all(top[:-1] > top[1:])):
                        return cands[best[:n]], True
        scores = self.raw(n_items)
        found = top_indices(scores, n)
        top = scores[found]
        untied = (
            len(found) == n < n_items
            and top[-1] > 0
            and bool(np.all(top[:-1] > top[1:]))
            and int(np.count_nonzero(scores >= top[-1])) == n
        )
        return found, untied

    def _stale(self, computed: tuple[int, int, float], n_items: int) -> bool:
        size, adds, ref_ts = computed
        return (
            size != n_items
            or self.adds - adds >= TOP_EVERY
            or self.ref_ts - ref_ts >= TOP_DRIFT * self.half_life_s
        )
