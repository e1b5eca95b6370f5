"""Candidate sources, registered by name; ``EngineConfig.sources`` picks among them.

Adding a source: a module here with a class that has a ``name`` and a
``candidates(request, n)`` method (see :class:`~pulserec.engine.sources.base.Source`),
and one line in :data:`SOURCES`. A score that a ranking feature reads too is a request
signal (see :meth:`~pulserec.engine.sources.base.Request.signal`), so it is computed once.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from pulserec.engine.sources.ann import AnnSource
from pulserec.engine.sources.base import Request, Source
from pulserec.engine.sources.covisit import CovisitSource, covisit_votes, live_covisit_votes
from pulserec.engine.sources.factor import FactorSource
from pulserec.engine.sources.newest import NewestSource
from pulserec.engine.sources.sequential import SequentialSource, sequential_scores
from pulserec.engine.sources.session import SessionSource, latest_votes, session_votes
from pulserec.engine.sources.text import TextSource
from pulserec.engine.sources.trending import (
    CategoryTrendingSource,
    FastTrendingSource,
    PopularSource,
    TrendingSource,
)

SOURCES: dict[str, Source] = {
    source.name: source
    for source in (
        AnnSource(), FactorSource(), CovisitSource(), SequentialSource(), TrendingSource(),
        TextSource(), FastTrendingSource(), SessionSource(), CategoryTrendingSource(),
        PopularSource(), NewestSource(),
    )
}  # fmt: skip
"""Every candidate source by name."""

FALLBACK = "trending"
"""The source asked when no configured one has anything for a request."""

__all__ = [
    "FALLBACK", "SOURCES", "Request", "Source", "check_sources", "covisit_votes", "gather",
    "latest_votes", "live_covisit_votes",
    "sequential_scores", "session_votes",
]  # fmt: skip


def check_sources(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` as a tuple, after checking each is a registered source."""
    names = tuple(names)
    unknown = [name for name in names if name not in SOURCES]
    if unknown:
        raise ValueError(f"sources: unknown source(s) {unknown}; known: {sorted(SOURCES)}")
    return names


def gather(request: Request, names: Iterable[str], n: int) -> np.ndarray:
    """The union of the named sources' candidates (sorted, unique item indices), all of
    them allowed by the request's filter."""
    pools = [p for name in names if (p := SOURCES[name].candidates(request, n)) is not None]
    if not pools:
        fallback = SOURCES[FALLBACK].candidates(request, n)
        pools = [fallback] if fallback is not None else []
    if not pools:
        return np.zeros(0, np.int64)
    cands = np.unique(np.concatenate(pools))
    cands = cands[cands >= 0].astype(np.int64)
    # every source searched inside the filter; this keeps it so for any source to come
    return cands if request.allowed is None else cands[request.keep(cands)]
