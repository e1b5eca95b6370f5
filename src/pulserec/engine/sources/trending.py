"""The items most interacted with lately (live, decayed counts): nobody's list is empty."""

from __future__ import annotations

import numpy as np

from pulserec.engine.sources.base import Request
from pulserec.engine.trending import Trending

HEAD = 1000
"""How many of the top items a filtered request looks through before scanning every
allowed item (the top list is cached; a scan costs a pass over the allowed items)."""


def allowed_top(request: Request, trending: Trending, n: int) -> np.ndarray:
    """The ``n`` most trending items that the request's filter allows."""
    n_items = len(request.trending)
    if request.allowed is None:
        return trending.top(n, n_items)
    head = trending.top(HEAD, n_items)
    head = head[request.keep(head)]
    if len(head) >= n:
        found: np.ndarray = head[:n]
        return found
    return request.top(trending.scores(n_items), n)


class TrendingSource:
    """The live top list; half as many as the other sources, ten at least."""

    name = "trending"

    def candidates(self, request: Request, n: int) -> np.ndarray | None:
        return allowed_top(request, request.live.trending, max(n // 2, 10))


class FastTrendingSource:
    """The top list of the last hour or so (news, launches, a sudden run on an item)."""

    name = "trending_fast"

    def candidates(self, request: Request, n: int) -> np.ndarray | None:
        return allowed_top(request, request.live.trending_fast, max(n // 2, 10))
