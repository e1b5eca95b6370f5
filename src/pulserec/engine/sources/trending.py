"""The items most interacted with lately (live, decayed counts): nobody's list is empty;
and the same within the categories of what the user took last."""

from __future__ import annotations

import numpy as np

from pulserec.engine.arrays import top_indices
from pulserec.engine.segments import history_length
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
    return request.top(trending.raw(n_items), n)


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


NEWCOMER_ITEMS = 3
"""Positive items below which a user is a newcomer, whom the slow counts speak for."""


def newcomer(request: Request) -> bool:
    """Whether the request's user has taken fewer than :data:`NEWCOMER_ITEMS` items."""
    return history_length(request.state, NEWCOMER_ITEMS) < NEWCOMER_ITEMS


class PopularSource:
    """For a newcomer (:func:`newcomer`), the top list of the slow counts (about a
    year): what a site's newcomers often start from.

    Only newcomers: for a user with a history, a year's counts measured in the held-out
    window rank worse once new items arrive (amazon-reviews, engine alone: MRR@10 of
    users with 3-9 items .763 without the counts, .734 with them for everyone)."""

    name = "popular"

    def candidates(self, request: Request, n: int) -> np.ndarray | None:
        if not newcomer(request):
            return None
        return allowed_top(request, request.live.popular, max(n // 2, 10))


def recent_categories(request: Request) -> tuple[np.ndarray, np.ndarray] | None:
    """The category codes of the user's latest items and each one's share of them, an
    item weighed down by ``recency_decay`` per newer item (as its co-visitation votes
    are); None for a user without items or whose items have no category.

    Unweighted, a user with ten items spread over old interests gave the category they
    are in now a tenth of the weight: on the visits-like shape, users with ten items or
    more took an item of their next list at 0.204, below a plain list of four items of
    their latest items' category and six of the last hour's top (0.215); weighted, 0.222
    (``benchmarks/plain_lists.py``, ``benchmarks/shape_sweep.py``)."""
    state = request.state
    if state is None or not state.recent:
        return None
    cfg = request.config
    recent = state.recent_items(cfg.n_recent)
    mine = request.items.category[np.asarray(recent, dtype=np.int64)]
    weight = cfg.recency_decay ** np.arange(len(recent))
    has = mine >= 0
    if not has.any():
        return None
    codes, inverse = np.unique(mine[has], return_inverse=True)
    return codes, np.bincount(inverse, weights=weight[has]) / weight.sum()


class CategoryTrendingSource:
    """The most trending items (3-day scale) of the categories the user took last, each
    category given a share of the list as large as its share of the user's latest items
    (:func:`recent_categories`; three at least). Ranking already weighs what the crowd
    takes in the user's categories (the ``category_trending`` feature); with a few events
    a user, no other source proposes those items, so without this one the feature has
    nothing to lift."""

    name = "category"

    def candidates(self, request: Request, n: int) -> np.ndarray | None:
        found = request.signal(recent_categories)
        if found is None:
            return None
        codes, shares = found
        size = max(n // 2, 10)
        scores = request.trending
        quotas = np.maximum(np.round(size * shares / shares.sum()), 3).astype(int)
        pools = []
        for code, want in zip(codes.tolist(), quotas.tolist(), strict=True):
            members = request.items.category_members(code)
            if len(members) and members[-1] >= len(scores):  # ascending: check the last
                members = members[members < len(scores)]
            if request.allowed is not None:
                members = members[request.keep(members)]
            values = scores[members]
            best = top_indices(values, want)
            pools.append(members[best[values[best] > 0]])  # nobody took it lately: not trending
        proposed = np.concatenate(pools)  # one pool per category: never none
        return proposed if len(proposed) else None
