"""The lists each user was shown lately, for "not shown in the last N lists / T minutes".

Held in the serving process, bounded per user and in users (least recently served out
first); a user's deletion forgets theirs. Every list served is recorded, whatever its
placement: what a user saw on one page they have seen.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable

MAX_USERS = 100_000
"""Users whose shown lists are held."""
PER_USER = 50
"""Lists held per user (so ``not_shown.lists`` reaches back this far at most)."""


class ShownLists:
    """``(time, item ids)`` of the latest lists served to each user.

    Examples
    --------
    >>> shown = ShownLists()
    >>> shown.add("ana", ["a", "b"], now=100.0)
    >>> shown.add("ana", ["c"], now=200.0)
    >>> sorted(shown.recent("ana", lists=1)), sorted(shown.recent("ana", seconds=150, now=240))
    (['c'], ['a', 'b', 'c'])
    """

    def __init__(self, max_users: int = MAX_USERS, per_user: int = PER_USER) -> None:
        self.max_users = max_users
        self.per_user = per_user
        self._lists: OrderedDict[str, deque[tuple[float, tuple[str, ...]]]] = OrderedDict()

    def add(self, user_id: str, item_ids: Iterable[str], *, now: float) -> None:
        """Record a list served to a user at time ``now``."""
        lists = self._lists.get(user_id)
        if lists is None:
            lists = self._lists[user_id] = deque(maxlen=self.per_user)
            if len(self._lists) > self.max_users:
                self._lists.popitem(last=False)
        self._lists.move_to_end(user_id)
        lists.append((now, tuple(item_ids)))

    def recent(
        self,
        user_id: str,
        *,
        lists: int | None = None,
        seconds: float | None = None,
        now: float = 0.0,
    ) -> set[str]:
        """Items of the user's last ``lists`` lists and of those shown in the last
        ``seconds`` before ``now`` (either rule alone when the other is None)."""
        held = self._lists.get(user_id)
        out: set[str] = set()
        if not held:
            return out
        for j, (ts, items) in enumerate(reversed(held)):  # newest first
            by_count = lists is not None and j < lists
            by_time = seconds is not None and ts >= now - seconds
            if not (by_count or by_time):
                break  # every older list is further back by both rules
            out.update(items)
        return out

    def forget(self, user_id: str) -> None:
        """Drop a user's lists."""
        self._lists.pop(user_id, None)
