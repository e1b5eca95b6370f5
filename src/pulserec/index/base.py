"""Nearest-neighbour retrieval over item vectors (inner product on unit vectors)."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class VectorIndex(ABC):
    """Maps dense ``item_idx`` keys to vectors and finds the best matches of queries.

    Scores are inner products; callers normalise vectors for cosine similarity.
    Re-adding a key replaces its vector.
    """

    dim: int

    @abstractmethod
    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Insert or replace ``vectors[j]`` under ``keys[j]``."""

    @abstractmethod
    def remove(self, keys: np.ndarray) -> None:
        """Forget these keys; unknown keys are ignored."""

    @abstractmethod
    def search(
        self, queries: np.ndarray, k: int, *, allow: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(keys, scores)`` per query row, best first, padded with ``-1`` / ``-inf``.

        ``allow``: a bool mask over keys; only keys where it is True (and within its
        length) are searched, so a filter never costs results.
        """

    @abstractmethod
    def __len__(self) -> int:
        """Number of live keys."""


def as_queries(queries: np.ndarray, dim: int) -> np.ndarray:
    """Queries as a C-contiguous float32 ``(n, dim)`` array; a ValueError names a bad shape."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    if q.ndim == 1:
        q = q[None, :]
    if q.ndim != 2 or q.shape[1] != dim:
        raise ValueError(f"queries: expected shape (n, {dim}), got {np.shape(queries)}")
    return q


def allowed_keys(keys: np.ndarray, live: np.ndarray, allow: np.ndarray) -> np.ndarray:
    """Which of ``keys`` (where ``live``) a mask over keys allows, as a bool array."""
    ok = live & (keys >= 0) & (keys < len(allow))
    ok[ok] = allow[keys[ok]]
    return ok
