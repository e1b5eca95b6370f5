"""The items most interacted with lately (live, decayed counts): nobody's list is empty;
and the same within the categories of what the user took last."""

from __future__ import annotations

from collections.abc import Callable

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


CROWD_SHARE = 0.3
"""The prior share of a user's choices that follow the crowd rather than their category
(:func:`category_posterior`)."""

SMOOTHING = 0.1
"""Counts added to every item's, so that an item nobody took lately still has a share."""


def category_posterior(request: Request) -> tuple[np.ndarray, np.ndarray] | None:
    """The probability that the user's next choice is in each of their latest items'
    categories (codes sorted, as :func:`recent_categories`); None for a user without
    items or whose items have no category.

    A filter over the latest items, oldest first: before each item the user stays in a
    category with probability ``recency_decay``, else moves to any of the catalog's
    categories; an item then weighs its category by ``1 + (1 - CROWD_SHARE) /
    CROWD_SHARE * p / q``, ``p`` its share of its category's slow counts (about a year),
    ``q`` its share of everyone's 3-day counts. A hot item (its 3-day share large) says
    little of the user's category, a category's own favourite much: the filter a log drawn
    from topics and a hot set follows (:mod:`pulserec.evaluation.oracle`), where the
    shares of :func:`recent_categories` weigh every item alike."""
    state = request.state
    if state is None or not state.recent:
        return None
    cfg = request.config
    recent = np.asarray(state.recent_items(cfg.n_recent), dtype=np.int64)[::-1]
    cats = request.items.category[recent]
    if not (cats >= 0).any():
        return None
    k = max(len(request.items.category_codes), 1)
    n = len(request.trending)
    lately = request.live.trending.raw(n)  # kept values: ratios are the counts'
    lately_total = request.live.trending.kept_total  # their sum, without a pass
    slow = request.live.popular
    codes = np.array(sorted({c for c in cats.tolist() if c >= 0}), dtype=np.int64)
    # each category's slow counts and size, once however many of the items share it, in
    # one read of every member (a read per category cost more than its counts did)
    groups = [request.items.category_members(code, below=n) for code in codes.tolist()]
    sizes = np.array([len(g) for g in groups])
    in_category = np.zeros(len(codes))
    filled = sizes > 0
    if filled.any():
        starts = np.cumsum(sizes) - sizes
        in_category[filled] = np.add.reduceat(slow.at(np.concatenate(groups)), starts[filled])
    stay = cfg.recency_decay
    odds = (1.0 - CROWD_SHARE) / CROWD_SHARE
    # each item's weight on its category (``slot``: its place in ``codes``; 0, unread,
    # for an item without a category)
    slot = np.searchsorted(codes, np.maximum(cats, codes[0]))
    p = (slow.at(recent) + SMOOTHING) / (in_category + SMOOTHING * np.maximum(sizes, 1))[slot]
    q = (lately[recent] + SMOOTHING * lately_total / max(n, 1)) / (
        lately_total * (1.0 + SMOOTHING) + 1e-12
    )
    weights = 1.0 + odds * p / np.maximum(q, 1e-12)
    # the filter in floats, oldest item first: a handful of categories, a step per item
    post = [1.0 / k] * len(codes)
    rest = 1.0 - len(codes) / k  # every other category of the catalog together
    drift, others = (1.0 - stay) / k, (1.0 - stay) * (k - len(codes)) / k
    for code, at, weight in zip(cats.tolist(), slot.tolist(), weights.tolist(), strict=True):
        post = [stay * b + drift for b in post]
        rest = stay * rest + others
        if code < 0:
            continue
        post[at] *= weight
        total = sum(post) + rest
        post, rest = [b / total for b in post], rest / total
    return codes, stay * np.asarray(post) + drift


def category_quotas(request: Request, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The codes of the categories the user took last and how many of a source's
    ``n // 2`` candidates (ten at least) each gets: its share of the user's latest items
    (:func:`recent_categories`), three at least; None for a user without categories."""
    found = request.signal(recent_categories)
    if found is None:
        return None
    codes, shares = found
    size = max(n // 2, 10)
    return codes, np.maximum(np.round(size * shares / shares.sum()), 3).astype(int)


def category_pools(
    request: Request, n: int, pick: Callable[[int, int], np.ndarray]
) -> np.ndarray | None:
    """A source's list shared out among the categories the user took last
    (:func:`category_quotas`): ``pick(code, want)`` gives up to ``want`` items of the
    category ``code``, best first; their lists one after the other, in the categories'
    order. None for a user without categories, or where no category has an item to give."""
    found = category_quotas(request, n)
    if found is None:
        return None
    codes, quotas = found
    pools = [pick(code, want) for code, want in zip(codes.tolist(), quotas.tolist(), strict=True)]
    proposed = np.concatenate(pools)  # one pool per category: never none
    return proposed if len(proposed) else None


class CategoryTrendingSource:
    """The most trending items (3-day scale) of the categories the user took last, each
    category given a share of the list as large as its share of the user's latest items
    (:func:`category_pools`; three at least). Ranking already weighs what the crowd
    takes in the user's categories (the ``category_trending`` feature); with a few events
    a user, no other source proposes those items, so without this one the feature has
    nothing to lift."""

    name = "category"

    def candidates(self, request: Request, n: int) -> np.ndarray | None:
        if request.signal(recent_categories) is None:
            return None
        # a category's top items are its items in the catalog's top list, where it has
        # enough of them and the list is untied: one list for every category, where a
        # pass over each category's items cost a tenth of a request at 100k items
        head, untied = request.live.trending.ranked(HEAD, len(request.trending))
        if untied and request.allowed is not None:
            head = head[request.keep(head)]
        head_codes = request.items.category[head] if untied else None

        def pick(code: int, want: int) -> np.ndarray:
            if head_codes is not None:
                listed: np.ndarray = head[head_codes == code][:want]
                if len(listed) == want:
                    return listed
            return scanned_top(request, code, want)

        return category_pools(request, n, pick)


def scanned_top(request: Request, code: int, want: int) -> np.ndarray:
    """The ``want`` most trending allowed items of the category ``code`` (3-day scale),
    best first, none that nobody took lately: by a pass over the category's items."""
    scores = request.trending
    members = request.items.category_members(code, below=len(scores))
    if request.allowed is not None:
        members = members[request.keep(members)]
    values = scores[members]
    best = top_indices(values, want)
    found: np.ndarray = members[best[values[best] > 0]]
    return found
