"""Item-to-item co-visitation learned from users' time-ordered sequences.

Two items are neighbours when users touch them close together in time, with
more weight the closer they are and when the second follows the first. This
is the "people who just did X next did Y" signal the real-time engine reads
from a user's last few items.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from pulserec.events.interactions import Interactions
from pulserec.models.base import Recommender


def row_top_n(matrix: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """Keep the ``n`` largest entries of each CSR row (ties: lower column first)."""
    m = sp.csr_matrix(matrix)
    m.sum_duplicates()
    counts = np.diff(m.indptr)
    if counts.size == 0 or counts.max(initial=0) <= n:
        return m
    rows = np.repeat(np.arange(m.shape[0]), counts)
    order = np.lexsort((m.indices, -m.data, rows))
    rank = np.arange(len(order)) - np.repeat(m.indptr[:-1], counts)
    keep = order[rank < n]
    return sp.csr_matrix((m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape)


def covisitation(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    timestamp: np.ndarray,
    n_items: int,
    *,
    window: int = 5,
    backward_weight: float = 0.5,
    max_gap_s: float | None = None,
    top_n: int = 100,
    normalize: float = 0.5,
) -> sp.csr_matrix:
    """Co-visitation matrix ``C[i, j]``: how strongly ``j`` follows ``i``.

    Parameters
    ----------
    user_idx, item_idx, timestamp : arrays of one length
        Events; within a user they are taken in time order (stable).
    window : int
        Pairs up to this many steps apart count, each with weight 1/steps.
    backward_weight : float
        Weight of "``i`` came before ``j``" as evidence for ``j -> i``.
    max_gap_s : float, optional
        Pairs further apart in time do not count (session boundary).
    normalize : float
        Divide by ``(count_i * count_j) ** normalize`` so popular items do
        not neighbour everything (0 keeps raw counts, 0.5 is cosine-like).
    """
    order = np.lexsort((timestamp, user_idx))
    u, i, t = user_idx[order], item_idx[order], timestamp[order]
    rows, cols, vals = [], [], []
    for step in range(1, window + 1):
        same = u[step:] == u[:-step]
        if max_gap_s is not None:
            same &= (t[step:] - t[:-step]) <= max_gap_s
        a, b = i[:-step][same], i[step:][same]
        w = np.full(len(a), 1.0 / step)
        rows += [a, b]
        cols += [b, a]
        vals += [w, backward_weight * w]
    if rows:
        r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    else:
        r = c = np.zeros(0, dtype=np.int64)
        v = np.zeros(0)
    keep = r != c
    mat = sp.csr_matrix((v[keep], (r[keep], c[keep])), shape=(n_items, n_items), dtype=np.float64)
    mat.sum_duplicates()
    if normalize:
        counts = np.maximum(np.bincount(item_idx, minlength=n_items).astype(np.float64), 1.0)
        scale = counts**-normalize
        mat = sp.csr_matrix(sp.diags(scale) @ mat @ sp.diags(scale))
    out = row_top_n(mat, top_n).astype(np.float32)
    out.sort_indices()  # readers look entries up by binary search
    return out


class CoVisitation(Recommender):
    """Scores items by their co-visitation with the user's last few items.

    Parameters
    ----------
    window, backward_weight, top_n, normalize
        See :func:`covisitation`.
    n_recent : int
        How many of the user's latest items vote.
    recency_decay : float
        Vote weight of the ``p``-th latest item is ``recency_decay ** p``.
    """

    name: ClassVar[str] = "covisit"
    param_grid: ClassVar[dict[str, list[Any]]] = {
        "window": [3, 10],
        "n_recent": [3, 10],
        "recency_decay": [0.6, 0.9],
    }
    _state: ClassVar[tuple[str, ...]] = ("matrix_", "last_items_")

    def __init__(
        self,
        window: int = 5,
        backward_weight: float = 0.5,
        top_n: int = 100,
        normalize: float = 0.5,
        n_recent: int = 5,
        recency_decay: float = 0.8,
    ) -> None:
        self.window = window
        self.backward_weight = backward_weight
        self.top_n = top_n
        self.normalize = normalize
        self.n_recent = n_recent
        self.recency_decay = recency_decay

    def _fit(self, train: Interactions) -> None:
        self.matrix_ = covisitation(
            train.user_idx,
            train.item_idx,
            train.timestamp,
            self.n_items_,
            window=self.window,
            backward_weight=self.backward_weight,
            top_n=self.top_n,
            normalize=self.normalize,
        )
        self.last_items_ = last_items(train, self.n_users_, self.n_recent)

    def _score(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        last = self.last_items_[user_idx]
        weights = np.where(last >= 0, self.recency_decay ** np.arange(last.shape[1]), 0.0)
        votes = sp.csr_matrix(
            (
                weights.ravel(),
                (np.repeat(np.arange(len(last)), last.shape[1]), np.maximum(last, 0).ravel()),
            ),
            shape=(len(last), self.n_items_),
        )
        return np.asarray((votes @ self.matrix_).toarray(), dtype=np.float32)

    def _score_fold_in(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        # A history row carries no order: every item votes equally.
        return np.asarray((sp.csr_matrix(user_items) @ self.matrix_).toarray(), dtype=np.float32)

    def score_sequence(self, recent: list[int]) -> np.ndarray:
        """Scores of all items from one user's recent items, newest first."""
        self._check_fitted()
        recent = [r for r in recent[: self.n_recent] if 0 <= r < self.n_items_]
        if not recent:
            return np.zeros(self.n_items_, dtype=np.float32)
        w = self.recency_decay ** np.arange(len(recent))
        return np.asarray(self.matrix_[recent].T @ w, dtype=np.float32).ravel()


def last_items(train: Interactions, n_users: int, n: int) -> np.ndarray:
    """Each user's ``n`` latest items, newest first, padded with -1: ``(n_users, n)``."""
    order = np.lexsort((train.timestamp, train.user_idx))
    u, i = train.user_idx[order], train.item_idx[order]
    out = np.full((n_users, n), -1, dtype=np.int64)
    if len(u) == 0:
        return out
    ends = np.flatnonzero(np.r_[u[1:] != u[:-1], True])  # last event of each user
    starts = np.r_[0, ends[:-1] + 1]
    for p in range(n):
        pos = ends - p
        ok = pos >= starts
        out[u[ends[ok]], p] = i[pos[ok]]
    return out
