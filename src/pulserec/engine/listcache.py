"""Ranked lists kept for a few seconds, for a user who asks again before anything of theirs
changed.

A user's list depends on their own events, on the serving models and catalog, and on
what everyone else did lately (trending counts, sessions, co-visitation). A page that is
reloaded, a second widget or a client retry asks for the same list again within seconds;
ranking it again costs the whole request (5.0 ms of CPU in ``Engine.recommend`` on
ml-latest-small, 0.18 ms from a kept list: docs/service.md, *Kept lists*) for the same
items. :class:`ListCache` keeps each user's latest ranked list under a key that names
what it was ranked from: the request's arguments, the models' version and the user's
state (the events folded into it), so the user's next event, a refit or an operator's
experiment change misses at once. Catalog changes clear it (``Engine`` calls
:meth:`ListCache.clear`). Everyone else's events do not: for at most ``ttl_s`` seconds a
kept list does not follow the crowd's signals. ``engine.list_cache_ttl_s`` sets that
bound (0, the default, keeps nothing). Every answer is still logged as its own list
(its own ``recommendation_id``) by the caller.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class ListCache:
    """The latest ranked list of up to ``max_users`` users, each for ``ttl_s`` seconds.

    Examples
    --------
    >>> clock = [0.0]
    >>> cache = ListCache(ttl_s=5.0, max_users=2, clock=lambda: clock[0])
    >>> cache.put("ana", ("k", 10), ["i1", "i2"])
    >>> cache.get("ana", ("k", 10)), cache.get("ana", ("k", 20))
    (['i1', 'i2'], None)
    >>> clock[0] = 6.0
    >>> cache.get("ana", ("k", 10)) is None
    True
    """

    def __init__(
        self, ttl_s: float, max_users: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not ttl_s >= 0:
            raise ValueError(f"ttl_s: expected seconds >= 0, got {ttl_s}")
        if max_users < 0:
            raise ValueError(f"max_users: expected an integer >= 0, got {max_users}")
        self.ttl_s = float(ttl_s)
        self.max_users = int(max_users)
        self._clock = clock
        self._lists: OrderedDict[str, tuple[Hashable, float, Any]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        """Whether anything is kept (a positive ``ttl_s`` and room for a user)."""
        return self.ttl_s > 0 and self.max_users > 0

    def __len__(self) -> int:
        return len(self._lists)

    def get(self, user_id: str, key: Hashable) -> Any | None:
        """The list kept for ``user_id`` under ``key`` if it is younger than ``ttl_s``;
        None otherwise (counted as a miss)."""
        held = self._lists.get(user_id)
        if held is not None and held[0] == key and self._clock() < held[1]:
            self._lists.move_to_end(user_id)
            self.hits += 1
            return held[2]
        self.misses += 1
        return None

    def put(self, user_id: str, key: Hashable, value: Any) -> None:
        """Keep ``value`` as the user's list under ``key``; the least recently used user
        beyond ``max_users`` is dropped."""
        if not self.enabled:
            return
        self._lists[user_id] = (key, self._clock() + self.ttl_s, value)
        self._lists.move_to_end(user_id)
        while len(self._lists) > self.max_users:
            self._lists.popitem(last=False)

    def forget(self, user_id: str) -> None:
        """Drop the user's list (the user was deleted or merged)."""
        self._lists.pop(user_id, None)

    def clear(self) -> None:
        """Drop every list (the catalog or the models changed)."""
        self._lists.clear()
