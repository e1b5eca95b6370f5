"""The items most interacted with lately (live, decayed counts): nobody's list is empty."""

from __future__ import annotations

import numpy as np

from pulserec.engine.sources.base import Request


class TrendingSource:
    """The live top list; half as many as the other sources, ten at least."""

    name = "trending"

    def candidates(self, request: Request, n: int) -> np.ndarray | None:
        return request.live.trending.top(max(n // 2, 10), len(request.trending))


class FastTrendingSource:
    """The top list of the last hour or so (news, launches, a sudden run on an item)."""

    name = "trending_fast"

    def candidates(self, request: Request, n: int) -> np.ndarray | None:
        return request.live.trending_fast.top(max(n // 2, 10), len(request.trending))
