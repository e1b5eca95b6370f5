"""Exact inner-product search: the reference every approximate index is checked against."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from pulserec.index.base import VectorIndex, allowed_keys, as_queries

SPARSE_MIN_ROWS = 1024
"""Below this many vectors a search reads the dense matrix (it is small enough anyway)."""

SPARSE_MAX_DENSITY = 0.25
"""A matrix with at most this share of non-zero entries is also held in CSR form."""


class ExactIndex(VectorIndex):
    """Brute-force search over a dense matrix, growing by doubling.

    Removal marks a slot dead; its key never comes back from :meth:`search`.

    Sparse vectors (a hashing text encoder's: about 50 non-zero entries of 512) are also
    held in CSR form, built at the first unfiltered search and rebuilt when a stored
    vector changes or the rows added since outgrow an eighth of it; a search then reads
    the non-zero entries only, a fifth of the dense matrix's bytes. Scores equal the
    dense product's up to float32 rounding (the sum runs in another order).

    Examples
    --------
    >>> idx = ExactIndex(2)
    >>> idx.add(np.array([7, 9]), np.array([[1.0, 0.0], [0.0, 1.0]]))
    >>> idx.search(np.array([[0.9, 0.1]]), 1)[0].tolist()
    [[7]]
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._vectors = np.zeros((0, dim), dtype=np.float32)
        self._keys = np.zeros(0, dtype=np.int64)
        self._alive = np.zeros(0, dtype=bool)
        self._slot: dict[int, int] = {}
        self._n = 0
        self._identity = True  # every key equals its slot (keys added as 0, 1, 2, ...)
        self._dead = 0  # slots whose key was removed
        # CSR of the first rows, or None; and the row count at which density was last
        # found too high to bother (checked again once the index has doubled)
        self._csr: sp.csr_matrix | None = None
        self._dense_at = 0

    def __len__(self) -> int:
        return len(self._slot)

    def _grow(self, needed: int) -> None:
        cap = len(self._keys)
        if needed <= cap:
            return
        new_cap = max(needed, 2 * cap, 64)
        vectors = np.zeros((new_cap, self.dim), dtype=np.float32)
        vectors[:cap] = self._vectors
        keys = np.full(new_cap, -1, dtype=np.int64)
        keys[:cap] = self._keys
        alive = np.zeros(new_cap, dtype=bool)
        alive[:cap] = self._alive
        self._vectors, self._keys, self._alive = vectors, keys, alive

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        keys = np.asarray(keys, dtype=np.int64).ravel()
        vecs = as_queries(vectors, self.dim)
        if len(keys) != len(vecs):
            raise ValueError(f"keys: {len(keys)} keys for {len(vecs)} vectors")
        self._grow(self._n + len(keys))
        for key, vec in zip(keys.tolist(), vecs, strict=True):
            slot = self._slot.get(key)
            if slot is None:
                slot = self._n
                self._n += 1
                self._slot[key] = slot
                self._keys[slot] = key
                self._identity = self._identity and key == slot
                self._alive[slot] = True
            elif self._csr is not None and slot < self._csr.shape[0]:
                self._csr = None  # a held row changes
            self._vectors[slot] = vec

    def remove(self, keys: np.ndarray) -> None:
        for key in np.asarray(keys, dtype=np.int64).ravel().tolist():
            slot = self._slot.pop(key, None)
            if slot is not None:
                self._alive[slot] = False
                self._dead += 1
                self._vectors[slot] = 0.0  # the CSR keeps it: dead slots score -inf

    def vectors(self, keys: np.ndarray) -> np.ndarray:
        """Stored vectors of known keys (zeros for unknown ones)."""
        keys = np.asarray(keys, dtype=np.int64).ravel()
        out = np.zeros((len(keys), self.dim), dtype=np.float32)
        for j, key in enumerate(keys.tolist()):
            slot = self._slot.get(key)
            if slot is not None:
                out[j] = self._vectors[slot]
        return out

    def search(
        self, queries: np.ndarray, k: int, *, allow: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        q = as_queries(queries, self.dim)
        n = self._n
        if allow is None:
            scores = self._scores(q)
            if self._dead:
                scores[:, ~self._alive[:n]] = -np.inf
            return _top(scores, self._keys[:n], k)
        # a filter scores only the vectors it allows: fewer rows, less work
        keys, vectors = self.allowed_subset(allow)
        return _top(q @ vectors.T, keys, k)

    def _scores(self, q: np.ndarray) -> np.ndarray:
        """``q @ vectors.T`` over every slot, from the CSR form where there is one."""
        n = self._n
        csr = self._sparse()
        if csr is None:
            return q @ self._vectors[:n].T
        head = np.asarray(csr @ q.T, dtype=np.float32).T
        held = csr.shape[0]
        if held == n:
            return np.ascontiguousarray(head)
        return np.concatenate([head, q @ self._vectors[held:n].T], axis=1)

    def _sparse(self) -> sp.csr_matrix | None:
        """The CSR form of the vectors (built or rebuilt as needed), or None when they
        are too few or too dense for it to pay."""
        n = self._n
        if n < SPARSE_MIN_ROWS or n < 2 * self._dense_at:
            return None
        csr = self._csr
        if csr is not None and n - csr.shape[0] <= csr.shape[0] // 8:
            return csr
        dense = self._vectors[:n]
        if np.count_nonzero(dense) > SPARSE_MAX_DENSITY * dense.size:
            self._csr, self._dense_at = None, n
            return None
        self._csr = csr = sp.csr_matrix(dense)
        return csr

    def allowed_subset(self, allow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The keys ``allow`` lets through and their vectors (copies): a caller with
        several queries under one mask gathers them once."""
        slots = np.flatnonzero(self.allowed_slots(allow))
        return self._keys[slots], self._vectors[slots]

    def allowed_slots(self, allow: np.ndarray) -> np.ndarray:
        """Which slots hold a live key that ``allow`` (a mask over keys) lets through."""
        n = self._n
        if self._identity:  # the common case, item indices added in order: no gather
            ok = self._alive[:n].copy()
            m = min(n, len(allow))
            ok[:m] &= allow[:m]
            ok[m:] = False
            return ok
        return allowed_keys(self._keys[:n], self._alive[:n], allow)


def _top(scores: np.ndarray, keys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best of each row of ``scores`` (columns named by ``keys``), padded."""
    n = scores.shape[1]
    k_eff = min(k, n)
    out_keys = np.full((len(scores), k), -1, dtype=np.int64)
    out_scores = np.full((len(scores), k), -np.inf, dtype=np.float32)
    if k_eff == 0:
        return out_keys, out_scores
    if k_eff < n:
        part = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
    else:
        part = np.broadcast_to(np.arange(n), (len(scores), n)).copy()
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    cols = np.take_along_axis(part, order, axis=1)
    vals = np.take_along_axis(vals, order, axis=1)
    out_keys[:, :k_eff] = np.where(np.isfinite(vals), keys[cols], -1)
    out_scores[:, :k_eff] = vals
    return out_keys, out_scores
