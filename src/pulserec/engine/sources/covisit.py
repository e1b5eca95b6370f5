"""Items visited together with the user's latest ones (co-visitation votes)."""

from __future__ import annotations

import numpy as np

from pulserec.engine.arrays import top_indices
from pulserec.engine.sources.base import Request


def covisit_votes(request: Request) -> tuple[np.ndarray, np.ndarray] | None:
    """Co-visitation votes of the user's latest items: ``(items, votes)``, items sorted.

    Each recent item votes with its co-visitation row, older ones discounted by
    ``recency_decay``. Sparse on purpose: a dense vector over a large catalog costs more
    to scan than the few thousand neighbours it holds. A request signal: read it through
    ``request.signal(covisit_votes)``.
    """
    models, state = request.models, request.state
    if models is None or state is None:
        return None
    recent = [r for r in state.recent_items(request.config.n_recent) if r < models.n_items]
    if not recent:
        return None
    # direct CSR row gather: scipy's fancy indexing costs ~100 us per call here
    cov = models.covisit
    rows = np.asarray(recent, dtype=np.int64)
    starts, ends = cov.indptr[rows], cov.indptr[rows + 1]
    lengths = ends - starts
    total = int(lengths.sum())
    if not total:
        return None
    offsets = np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
    pos = offsets + np.arange(total)
    w = np.repeat(request.config.recency_decay ** np.arange(len(rows)), lengths)
    items, inverse = np.unique(cov.indices[pos], return_inverse=True)
    votes = np.bincount(inverse, weights=cov.data[pos] * w)
    return items.astype(np.int64), votes


class CovisitSource:
    """The items with the most co-visitation votes."""

    name = "covisit"

    def candidates(self, request: Request, n: int) -> np.ndarray | None:
        votes = request.signal(covisit_votes)
        if votes is None:
            return None
        found: np.ndarray = votes[0][top_indices(votes[1], n)]
        return found
