"""Items visited together with the user's latest ones (co-visitation votes)."""

from __future__ import annotations

import numpy as np

from pulserec.engine.sources.base import Request, top_of

Votes = tuple[np.ndarray, np.ndarray]
"""A sparse vector over items: sorted item indices and their values."""


def covisit_votes(request: Request) -> Votes | None:
    """Co-visitation votes of the user's latest items in the refit's table: ``(items,
    votes)``, items sorted. Each recent item votes with its row, older ones discounted by
    ``recency_decay``. A request signal: read it through ``request.signal(covisit_votes)``.
    """
    state = request.state
    if state is None or not state.recent:
        return None
    return _fitted_votes(request, state.recent_items(request.config.n_recent))


def live_covisit_votes(request: Request) -> Votes | None:
    """The same votes from what was learned per event since the process started (so an
    item that arrived after the refit has neighbours too); a request signal."""
    state = request.state
    if state is None or not state.recent:
        return None
    cfg = request.config
    recent = state.recent_items(cfg.n_recent)
    return request.live.covisit.votes(recent, cfg.recency_decay, request.live.now)


def _fitted_votes(request: Request, recent: list[int]) -> Votes | None:
    """Votes from the refit's co-visitation table. Sparse on purpose: a dense vector over
    a large catalog costs more to scan than the few thousand neighbours it holds."""
    models = request.models
    if models is None:
        return None
    recent = [r for r in recent if r < models.n_items]
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
    """The items with the most co-visitation votes: ``n`` from the refit's table and
    half as many from the live counts."""

    name = "covisit"

    def candidates(self, request: Request, n: int) -> np.ndarray | None:
        return top_of(request, ((covisit_votes, n), (live_covisit_votes, max(n // 2, 10))))
