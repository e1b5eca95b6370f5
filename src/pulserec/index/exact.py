"""Exact inner-product search: the reference every approximate index is checked against."""

from __future__ import annotations

import numpy as np

from pulserec.index.base import VectorIndex, as_queries


class ExactIndex(VectorIndex):
    """Brute-force search over a dense matrix, growing by doubling.

    Removal marks a slot dead; its key never comes back from :meth:`search`.

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
                self._alive[slot] = True
            self._vectors[slot] = vec

    def remove(self, keys: np.ndarray) -> None:
        for key in np.asarray(keys, dtype=np.int64).ravel().tolist():
            slot = self._slot.pop(key, None)
            if slot is not None:
                self._alive[slot] = False
                self._vectors[slot] = 0.0

    def vectors(self, keys: np.ndarray) -> np.ndarray:
        """Stored vectors of known keys (zeros for unknown ones)."""
        keys = np.asarray(keys, dtype=np.int64).ravel()
        out = np.zeros((len(keys), self.dim), dtype=np.float32)
        for j, key in enumerate(keys.tolist()):
            slot = self._slot.get(key)
            if slot is not None:
                out[j] = self._vectors[slot]
        return out

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = as_queries(queries, self.dim)
        n = self._n
        scores = q @ self._vectors[:n].T
        scores[:, ~self._alive[:n]] = -np.inf
        k_eff = min(k, n)
        out_keys = np.full((len(q), k), -1, dtype=np.int64)
        out_scores = np.full((len(q), k), -np.inf, dtype=np.float32)
        if k_eff == 0:
            return out_keys, out_scores
        if k_eff < n:
            part = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
        else:
            part = np.broadcast_to(np.arange(n), (len(q), n)).copy()
        vals = np.take_along_axis(scores, part, axis=1)
        order = np.argsort(-vals, axis=1, kind="stable")
        slots = np.take_along_axis(part, order, axis=1)
        vals = np.take_along_axis(vals, order, axis=1)
        keys = np.where(np.isfinite(vals), self._keys[slots], -1)
        out_keys[:, :k_eff] = keys
        out_scores[:, :k_eff] = vals
        return out_keys, out_scores
