"""Small array helpers shared by the engine's parts."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def unit(v: np.ndarray | None) -> np.ndarray | None:
    """``v`` scaled to length 1; None for None or a zero vector."""
    if v is None:
        return None
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else None


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` scaled to length 1 (zero rows stay zero), as float32."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: np.ndarray = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return out.astype(np.float32)


def top_indices(values: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` largest values, best first (partial sort)."""
    if len(values) <= n:
        return np.argsort(-values, kind="stable")
    part = np.argpartition(-values, n - 1)[:n]
    return part[np.argsort(-values[part], kind="stable")]


def in_sorted(items: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Which of ``items`` are in ``keys`` (sorted ascending), as a bool array: one binary
    search per item, a fraction of ``np.isin``'s cost at a request's few hundred items."""
    if not len(keys):
        return np.zeros(len(items), dtype=bool)
    pos = np.minimum(np.searchsorted(keys, items), len(keys) - 1)
    found: np.ndarray = keys[pos] == items
    return found


def member(items: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """``np.isin(items, pool)`` for integer arrays, by a sort of ``pool`` and binary search."""
    return in_sorted(items, np.sort(pool))


def sparse_lookup(sparse: tuple[np.ndarray, np.ndarray], items: np.ndarray) -> np.ndarray:
    """Values of a sparse vector ``(sorted keys, values)`` at ``items`` (0 where absent)."""
    keys, vals = sparse
    pos = np.minimum(np.searchsorted(keys, items), len(keys) - 1)
    return np.where(keys[pos] == items, vals[pos], 0.0)


def extended(values: np.ndarray, n: int, fill: float = 0.0) -> np.ndarray:
    """``values`` itself when it holds ``n`` entries or more, else a copy grown to at least
    ``n`` (twice its length when that is more, so growing item by item stays cheap), the
    new entries set to ``fill``."""
    if n <= len(values):
        return values
    out = np.full(max(n, 2 * len(values)), fill, dtype=values.dtype)
    out[: len(values)] = values
    return out


def csr_block(matrix: sp.csr_matrix, rows: list[int], cols: np.ndarray) -> np.ndarray:
    """``matrix[rows][:, cols]`` as a dense array, for a CSR matrix with sorted indices:
    one search per row for all columns, without scipy's indexing cost."""
    cols = np.asarray(cols, dtype=np.int64)
    out = np.zeros((len(rows), len(cols)))
    for j, r in enumerate(rows):
        lo, hi = matrix.indptr[r], matrix.indptr[r + 1]
        if lo == hi:
            continue
        held = matrix.indices[lo:hi]
        pos = np.minimum(np.searchsorted(held, cols), hi - lo - 1)
        hit = held[pos] == cols
        out[j, hit] = matrix.data[lo:hi][pos[hit]]
    return out
