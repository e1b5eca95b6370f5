"""Items grouped by a code (the live catalog's first category), kept up to date per change.

A request reads one group (the ``category`` candidate source reads the user's latest
categories); regrouping the whole catalog after each upsert (one sort of every item's
code) would cost the first request after it time in the catalog's size. Here each change
moves only the items it touches: a new item is appended to its group (item indices only
grow, so a group stays ascending), an item whose code changes is taken out of one group
and put into the other, in time proportional to those two groups.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

EMPTY = np.zeros(0, dtype=np.int64)
EMPTY.flags.writeable = False


class Groups:
    """Each item's code (-1: none) and, per code, its items' indices in ascending order.

    The same members, in the same order, as a stable sort of all the codes would give
    (:func:`group_from_scratch`). A group handed out by :meth:`members` is never written
    where it reaches: new members are appended past its end, any other change to the
    group makes a new array.
    """

    def __init__(self) -> None:
        self._codes = np.full(0, -1, dtype=np.int64)
        self._n = 0
        self._grouped = 0
        """Items ``0 .. _grouped - 1`` are in their group; the rest wait for :meth:`_sync`."""
        self._buf: dict[int, np.ndarray] = {}
        self._size: dict[int, int] = {}

    def __len__(self) -> int:
        return self._n

    @property
    def codes(self) -> np.ndarray:
        """Each item's code (a view; write codes through :meth:`assign`)."""
        return self._codes[: self._n]

    def resize(self, n: int) -> None:
        """Make room for ``n`` items; the new ones have code -1 (they are grouped on the
        next :meth:`assign` or :meth:`members`)."""
        if n <= self._n:
            return
        if n > len(self._codes):
            grown = np.full(max(n, 2 * len(self._codes)), -1, dtype=np.int64)
            grown[: self._n] = self._codes[: self._n]
            self._codes = grown
        self._n = n

    def assign(self, idx: np.ndarray, codes: Sequence[int] | np.ndarray) -> None:
        """Set the codes of items ``idx`` (the last one given wins for an index given
        twice) and regroup them; the items must be within :meth:`resize`'s size."""
        idx = np.asarray(idx, dtype=np.int64)
        codes = np.asarray(codes, dtype=np.int64)
        if len(idx) == 1:  # one item upserted, the usual case: no sorting
            j, old_code, new_code = int(idx[0]), int(self._codes[idx[0]]), int(codes[0])
            self._codes[j] = new_code
            if j < self._grouped and old_code != new_code:
                self._remove(old_code, idx)
                self._insert(new_code, idx)
            self._sync()
            return
        if not len(idx):
            self._sync()
            return
        before = self._codes[idx]
        self._codes[idx] = codes
        items, first = np.unique(idx, return_index=True)
        old, new = before[first], self._codes[items]
        moved = (items < self._grouped) & (old != new)
        if moved.any():
            items, old, new = items[moved], old[moved], new[moved]
            for code, leaving in split_by_code(items, old):
                self._remove(code, leaving)
            for code, joining in split_by_code(items, new):
                self._insert(code, joining)
        self._sync()

    def members(self, code: int) -> np.ndarray:
        """The items with ``code``, ascending (read-only; empty for an unknown code)."""
        if self._grouped < self._n:
            self._sync()
        size = self._size.get(code)
        if size is None:
            return EMPTY
        found = self._buf[code][:size]
        found.flags.writeable = False
        return found

    def _sync(self) -> None:
        """Group the items added since the last call: each is past every grouped item,
        so it is appended to its group."""
        if self._grouped == self._n:
            return
        items = np.arange(self._grouped, self._n, dtype=np.int64)
        for code, joining in split_by_code(items, self._codes[self._grouped : self._n]):
            self._append(code, joining)
        self._grouped = self._n

    def _append(self, code: int, items: np.ndarray) -> None:
        """Add ``items`` (ascending, all past the group's last member) to a group."""
        buf, size = self._buf.get(code, EMPTY), self._size.get(code, 0)
        if size + len(items) > len(buf):  # the old array stays as it was: a new one
            grown = np.empty(max(size + len(items), 2 * len(buf), 8), dtype=np.int64)
            grown[:size] = buf[:size]
            self._buf[code] = buf = grown
        buf[size : size + len(items)] = items  # past every view handed out
        self._size[code] = size + len(items)

    def _insert(self, code: int, items: np.ndarray) -> None:
        """Add ``items`` (ascending, none in the group yet) to a group, in order."""
        size = self._size.get(code, 0)
        if not size or int(items[0]) > int(self._buf[code][size - 1]):
            self._append(code, items)
            return
        current = self._buf[code][:size]
        if len(items) == 1:
            at = int(current.searchsorted(items[0]))
            grown = np.concatenate((current[:at], items, current[at:]))
        else:  # item k lands at its place among the members plus the k before it
            grown = np.empty(size + len(items), dtype=np.int64)
            new = np.zeros(len(grown), dtype=bool)
            new[current.searchsorted(items) + np.arange(len(items))] = True
            grown[new] = items
            grown[~new] = current
        self._buf[code] = grown
        self._size[code] = len(grown)

    def _remove(self, code: int, items: np.ndarray) -> None:
        """Take ``items`` (ascending, all in the group) out of a group."""
        size = self._size[code]
        if size == len(items):
            del self._buf[code], self._size[code]
            return
        current = self._buf[code][:size]
        if len(items) == 1:
            at = int(current.searchsorted(items[0]))
            kept = np.concatenate((current[:at], current[at + 1 :]))
        else:
            keep = np.ones(size, dtype=bool)
            keep[current.searchsorted(items)] = False
            kept = current[keep]
        self._buf[code] = kept
        self._size[code] = len(kept)


def split_by_code(items: np.ndarray, codes: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """``items`` (ascending) split by their ``codes``: (code, its items ascending)."""
    if len(items) == 1:
        return [(int(codes[0]), items)]
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    bounds = np.r_[starts, len(items)]
    return [
        (int(sorted_codes[lo]), items[order[lo:hi]])
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)
    ]


def group_from_scratch(codes: np.ndarray, code: int) -> np.ndarray:
    """The items with ``code`` by one stable sort of every item's code: what
    :class:`Groups` keeps up to date (the reference for its tests and benchmark)."""
    order = np.argsort(codes, kind="stable")
    lo, hi = np.searchsorted(codes[order], [code, code + 1])
    found: np.ndarray = order[lo:hi]
    return found
