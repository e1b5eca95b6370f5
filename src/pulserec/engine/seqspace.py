"""The transformer's item vectors in catalog order, with what serving needs to avoid any
per-request work over the whole catalog: an inner-product index for its top items and
the vectors' first and second moments, which give the mean and spread of a user's scores
over the catalog in O(d²).

For a user state ``h`` the score of item ``i`` is ``h · v_i`` (plus the repeat bias for
items of the user's sequence); over the items with a vector, its mean is ``h · μ`` and its
variance ``hᵀ (S / N − μ μᵀ) h``, with ``S`` the sum of ``v vᵀ``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pulserec.index.approximate import ApproximateIndex
from pulserec.index.ivf import IVFIndex


@dataclass
class Moments:
    """Running sums over item vectors: their count, sum and sum of outer products."""

    count: int
    total: np.ndarray
    second: np.ndarray

    @classmethod
    def of(cls, vectors: np.ndarray) -> Moments:
        v = np.asarray(vectors, dtype=np.float64)
        return cls(len(v), v.sum(axis=0), v.T @ v)

    def copy(self) -> Moments:
        return Moments(self.count, self.total.copy(), self.second.copy())

    def add(self, vectors: np.ndarray) -> None:
        v = np.asarray(vectors, dtype=np.float64)
        self.count += len(v)
        self.total += v.sum(axis=0)
        self.second += v.T @ v

    def mean_std(self, h: np.ndarray) -> tuple[float, float]:
        """Mean and standard deviation of ``h · v`` over the vectors counted."""
        if self.count == 0:
            return 0.0, 1.0
        h64 = np.asarray(h, dtype=np.float64)
        mean = float(h64 @ self.total) / self.count
        var = float(h64 @ self.second @ h64) / self.count - mean * mean
        return mean, max(var, 0.0) ** 0.5


@dataclass
class SeqSpace:
    """The vectors of the items a transformer was fitted on, laid out by catalog index.

    ``vectors`` has a row per catalog index the models cover (zero where the transformer
    has no item); ``has`` marks the rows with a vector; ``index`` holds those rows.
    """

    vectors: np.ndarray
    has: np.ndarray
    moments: Moments
    index: ApproximateIndex

    @classmethod
    def build(cls, table: np.ndarray, seq_items: np.ndarray, exact_threshold: int) -> SeqSpace:
        """From the transformer's float32 item ``table`` and each catalog index's row in it
        (-1: none)."""
        seq_items = np.asarray(seq_items, dtype=np.int64)
        has = (seq_items >= 0) & (seq_items < len(table))
        if has.all() and np.array_equal(seq_items, np.arange(len(table))):
            vectors = table  # the usual case: the catalog's order is the transformer's
        else:
            vectors = np.zeros((len(seq_items), table.shape[1]), dtype=np.float32)
            vectors[has] = table[seq_items[has]]
        rows = np.flatnonzero(has)
        index = IVFIndex(table.shape[1], exact_threshold=exact_threshold)
        index.add(rows, vectors[rows])
        return cls(vectors, has, Moments.of(vectors[rows]), index)
