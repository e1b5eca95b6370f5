"""The newest items of the user's categories, by the catalog's publication times.

An item a shop or a news desk has just published has no events yet: every count-based
source (trending, co-visitation, sessions, the category's trending items) finds it only
after some users took it. Where the catalog says when each item was published (the
items' ``created_at``), this source proposes the latest published items of the categories
the user took last, and the ``recency`` features (:mod:`pulserec.engine.features`) let
the blend weigh how new an item is.

Publication is read against the engine's clock, the time of the latest event counted: an
item published later than that is not out yet and is not proposed.
"""

from __future__ import annotations

import numpy as np

from pulserec.engine.sources.base import Request
from pulserec.engine.sources.trending import category_pools

DAY = 86400.0


def now(request: Request) -> float:
    """The engine's clock: the time of the latest event counted."""
    return float(request.live.trending.ref_ts)


def recency(request: Request, items: np.ndarray) -> np.ndarray:
    """``1 / (1 + days since publication)`` of each item: 1 for one published now, 0.5 a
    day later; 0 where the time is unknown (or still to come: not out yet)."""
    age = (now(request) - request.items.published(items)) / DAY
    out = np.zeros(len(items))
    out_now = age >= 0  # NaN compares False: unknown
    out[out_now] = 1.0 / (1.0 + age[out_now])
    return out


class NewestSource:
    """The latest published items of the categories the user took last, each category
    given a share of the list as large as its share of the user's latest items
    (:func:`~pulserec.engine.sources.trending.category_pools`)."""

    name = "newest"

    def candidates(self, request: Request, n: int) -> np.ndarray | None:
        clock = now(request)

        def pick(code: int, want: int) -> np.ndarray:
            members, times = request.items.published_members(code)
            out = members[: np.searchsorted(times, clock, side="right")]  # out by now
            if request.allowed is not None:
                out = out[request.keep(out)]
            latest: np.ndarray = out[::-1][:want]  # the latest first
            return latest

        return category_pools(request, n, pick)
