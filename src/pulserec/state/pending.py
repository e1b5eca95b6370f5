"""Users waiting for items the catalog does not hold yet, within a memory bound.

An event may name an item before the item is upserted. Its user's state then lacks that
event's effect, so the engine remembers (item id -> user ids) and rebuilds those users'
states from the log when the item arrives. Without a bound, a stream of events naming
ever new unknown ids grows this map without end (a server grew by 44 MB over 50,000 such
events).

:class:`PendingItems` holds at most ``max_size`` (item, user) pairs. Past that it forgets
whole items, least recently touched first, and counts what it dropped. Forgetting loses
nothing durable: the events stay in the log, and a dropped user's state takes them into
account at its next rebuild (a refit, a restart, an eviction, or the user's deletion).

Invariant: ``size`` equals the number of (item, user) pairs held and never exceeds
``max_size`` after a call returns. Not thread-safe: the caller holds its own lock.

Examples
--------
>>> pending = PendingItems(max_size=3)
>>> for item, user in [("new-1", "ana"), ("new-1", "bo"), ("new-2", "ana"), ("new-3", "cy")]:
...     pending.add(item, user)
>>> sorted(pending.pop(["new-1", "new-3"])), pending.size, pending.dropped
(['cy'], 1, 2)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator


class PendingItems:
    """An LRU map of unknown item id -> the user ids whose events named it.

    Parameters
    ----------
    max_size : int
        Most (item, user) pairs held; 0 holds none.

    Attributes
    ----------
    size : int
        (item, user) pairs held now.
    dropped : int
        Pairs forgotten to stay within ``max_size`` since construction.
    dropped_items : int
        Items forgotten to stay within ``max_size`` since construction.
    """

    def __init__(self, max_size: int = 100_000) -> None:
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 0:
            raise ValueError(f"max_size: expected an integer >= 0, got {max_size!r}")
        self.max_size = max_size
        self.size = 0
        self.dropped = 0
        self.dropped_items = 0
        # one user is held as the bare id (most unknown ids are named once): a set per item
        # would more than double the memory of such entries
        self._items: OrderedDict[str, str | set[str]] = OrderedDict()

    def __len__(self) -> int:
        """Items held."""
        return len(self._items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    def __iter__(self) -> Iterator[str]:
        """The item ids held, least recently touched first."""
        return iter(list(self._items))

    def add(self, item_id: str, user_id: str) -> None:
        """Remember that ``user_id`` has an event naming the unknown ``item_id``.

        The item becomes the most recently touched; the least recently touched items are
        forgotten while more than ``max_size`` pairs are held (the item just touched
        last of all, so it goes only when it alone holds more than ``max_size`` users).
        """
        held = self._items.get(item_id)
        if held is None:
            self._items[item_id] = user_id
            self.size += 1
        else:
            self._items.move_to_end(item_id)
            if isinstance(held, str):
                if held != user_id:
                    self._items[item_id] = {held, user_id}
                    self.size += 1
            elif user_id not in held:
                held.add(user_id)
                self.size += 1
        while self.size > self.max_size:
            _, gone = self._items.popitem(last=False)
            n = 1 if isinstance(gone, str) else len(gone)
            self.size -= n
            self.dropped += n
            self.dropped_items += 1

    def pop(self, item_ids: Iterable[str]) -> set[str]:
        """The users waiting for any of ``item_ids`` (which have arrived); forgets them."""
        waiting: set[str] = set()
        for item_id in item_ids:
            held = self._items.pop(item_id, None)
            if isinstance(held, str):
                self.size -= 1
                waiting.add(held)
            elif held is not None:
                self.size -= len(held)
                waiting |= held
        return waiting

    def discard_user(self, user_id: str) -> None:
        """Forget ``user_id`` everywhere (the user is being deleted); O(items held)."""
        emptied: list[str] = []
        single: list[tuple[str, str]] = []
        for item_id, held in self._items.items():
            if held == user_id:
                emptied.append(item_id)
            elif isinstance(held, set) and user_id in held:
                held.discard(user_id)
                self.size -= 1
                if len(held) == 1:
                    single.append((item_id, next(iter(held))))
        for item_id in emptied:
            del self._items[item_id]
            self.size -= 1
        for item_id, last in single:  # back to the bare id; the order stays
            self._items[item_id] = last

    def users(self, item_id: str) -> frozenset[str]:
        """The users waiting for ``item_id`` (empty when none); touches nothing."""
        held = self._items.get(item_id)
        if held is None:
            return frozenset()
        return frozenset((held,)) if isinstance(held, str) else frozenset(held)

    def clear(self) -> None:
        """Forget everything (the counters of what was dropped stay)."""
        self._items.clear()
        self.size = 0
