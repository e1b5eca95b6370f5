"""Item-based k-nearest-neighbour collaborative filtering."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from pulserec.events.interactions import Interactions
from pulserec.models.base import Recommender

_BLOCK_BYTES = 64 * 2**20
"""Memory for one dense block of similarity rows while fitting."""


def cosine_topk(
    user_items: sp.csr_matrix, k_neighbors: int, shrink: float, *, block_bytes: int = _BLOCK_BYTES
) -> sp.csr_matrix:
    """Shrunk cosine similarity between items, keeping each item's top neighbours.

    ``sim(i, j) = X_i · X_j / (‖X_i‖ ‖X_j‖ + shrink)`` over the item columns of
    ``user_items``; an item is never its own neighbour and only positive
    similarities are kept.

    Parameters
    ----------
    user_items : csr_matrix, shape (n_users, n_items)
    k_neighbors : int
        Neighbours kept per item.
    shrink : float
        Added to the denominator: damps similarities resting on few co-occurrences.
    block_bytes : int
        Memory for one dense block of similarity rows.

    Returns
    -------
    csr_matrix, shape (n_items, n_items), float32
        ``S[j, i]`` is the similarity of ``j`` to ``i`` when ``j`` is one of the
        top neighbours of ``i`` (column ``i`` holds ``i``'s neighbours), so
        ``user_items @ S`` sums, for each candidate ``i``, the similarities of
        the history items among its neighbours.
    """
    x = sp.csr_matrix(user_items, dtype=np.float32)
    n_items = x.shape[1]
    xt = x.T.tocsr()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0), dtype=np.float64).ravel())
    k = min(k_neighbors, n_items - 1)
    block = max(1, block_bytes // (8 * max(n_items, 1)))
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    for start in range(0, n_items if k > 0 else 0, block):
        stop = min(start + block, n_items)
        co = (xt[start:stop] @ x).toarray().astype(np.float64)
        denom = norms[start:stop, None] * norms[None, :] + shrink
        # An item nobody interacted with has a zero norm (and zero co-counts):
        # its similarity is 0, not 0/0.
        sim = np.divide(co, denom, out=np.zeros_like(co), where=denom > 0)
        local = np.arange(stop - start)
        sim[local, local + start] = 0.0
        if k < n_items:
            nbr = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        else:
            nbr = np.broadcast_to(np.arange(n_items), sim.shape)
        top = np.take_along_axis(sim, nbr, axis=1)
        keep = top > 0
        rows.append(np.broadcast_to(local[:, None] + start, nbr.shape)[keep])
        cols.append(nbr[keep])
        vals.append(top[keep])
    if rows:
        target, neighbour, value = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    else:
        target = neighbour = np.empty(0, dtype=np.int64)
        value = np.empty(0, dtype=np.float64)
    return sp.csr_matrix(
        (value.astype(np.float32), (neighbour, target)), shape=(n_items, n_items)
    )


class ItemKNN(Recommender):
    """Item-kNN: a user's score for an item sums its similarity to their history.

    Parameters
    ----------
    k_neighbors : int
        Most similar items kept per item (the rest count as 0).
    shrink : float
        Added to the cosine denominator; larger values trust items with few
        co-occurrences less.

    Attributes
    ----------
    similarity_ : csr_matrix, shape (n_items, n_items)
        Column ``i`` holds the kept neighbours of item ``i`` (see :func:`cosine_topk`).

    Examples
    --------
    >>> import pandas as pd
    >>> from pulserec.events.interactions import Interactions
    >>> events = pd.DataFrame({"user_id": ["a", "a", "b", "b", "c"],
    ...                        "item_id": ["x", "y", "x", "y", "x"],
    ...                        "timestamp": [1.0, 2.0, 3.0, 4.0, 5.0]})
    >>> model = ItemKNN(k_neighbors=1).fit(Interactions.from_events(events))
    >>> model.recommend([2], k=1)[0].tolist()
    [[1]]
    """

    name: ClassVar[str] = "itemknn"
    param_grid: ClassVar[dict[str, list[Any]]] = {
        "k_neighbors": [50, 100, 200, 400],
        "shrink": [0.0, 10.0, 100.0],
    }
    _state: ClassVar[tuple[str, ...]] = ("similarity_",)

    similarity_: sp.csr_matrix

    def __init__(self, k_neighbors: int = 200, shrink: float = 0.0) -> None:
        self.k_neighbors = k_neighbors
        self.shrink = shrink

    def _fit(self, train: Interactions) -> None:
        if int(self.k_neighbors) < 1:
            raise ValueError(f"itemknn: k_neighbors must be >= 1, got {self.k_neighbors!r}")
        if float(self.shrink) < 0:
            raise ValueError(f"itemknn: shrink must be >= 0, got {self.shrink!r}")
        self.similarity_ = cosine_topk(self.user_items_, int(self.k_neighbors), float(self.shrink))

    def _score(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        return np.asarray((user_items @ self.similarity_).toarray(), dtype=np.float32)
