"""Which served list an event counts for: the attribution rule, in one place.

Only clicks (``click``, ``view``) and conversions (``cart``, ``purchase``, ``like``) of an
item are attributed, each to at most one list position:

1. An event naming a ``recommendation_id`` counts for that list when the list was served
   to the event's user (or to nobody in particular) and contains the item; its position
   is the item's place in the list (a ``position`` the client sent is not trusted over it).
2. Otherwise (no id, or an id that names no such list) it counts for the **latest** list
   served to the user at most ``window_s`` seconds before the event (and no more than
   ``CLOCK_SKEW_S`` after it, for clients whose clock runs behind) that contained the item.
3. A position is credited once per kind: a second click on the same item of the same list
   is not a second click (and a second purchase not a second conversion).

Lists are kept in memory per user (the latest ``lists_per_user``, pruned past the window)
and by id; an id not held is looked up in the store.

Logs that record their lists as ``impression`` events (MIND, a client that sends them)
follow a second, older rule, also here: a list is the impressions of one user at one
timestamp (:func:`list_key`), and a positive event of that user at that timestamp was
chosen from it. Live click-through rates (``LiveItems.note_shown``) and the refit's blend
weights (:func:`listed_times`, :func:`shown_lists`) read lists that way.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from pulserec.catalog.catalog import Catalog
from pulserec.online.base import Attribution, ServedList
from pulserec.types import NEGATIVE_TYPES, Event

CLICK_TYPES = frozenset({"click", "view"})
CONVERSION_TYPES = frozenset({"cart", "purchase", "like"})
ATTRIBUTED_TYPES = CLICK_TYPES | CONVERSION_TYPES
CLOCK_SKEW_S = 60.0
"""How far an event's timestamp may lie before its list was served (client clocks)."""


def kind_of(event_type: str) -> str:
    """``click`` or ``conversion``."""
    return "click" if event_type in CLICK_TYPES else "conversion"


class Attributor:
    """Recent served lists, and the rule that credits an event to one of them."""

    def __init__(
        self, window_s: float, lists_per_user: int = 50, max_ids: int = 500_000
    ) -> None:
        self.window_s = window_s
        self.lists_per_user = lists_per_user
        self.max_ids = max_ids
        self.by_user: dict[str, deque[ServedList]] = {}
        self.by_id: OrderedDict[str, ServedList] = OrderedDict()
        self.credited: OrderedDict[tuple[str, int, str], None] = OrderedDict()

    def add(self, served: ServedList) -> None:
        """Hold a served list for attribution."""
        self.by_id[served.recommendation_id] = served
        if len(self.by_id) > self.max_ids:
            self.by_id.popitem(last=False)
        if served.user_id:
            lists = self.by_user.get(served.user_id)
            if lists is None:
                lists = self.by_user[served.user_id] = deque(maxlen=self.lists_per_user)
            lists.append(served)

    def note_credited(self, a: Attribution) -> None:
        """Remember a credited position (restoring from the store)."""
        self.credited[(a.recommendation_id, a.position, kind_of(a.type))] = None
        if len(self.credited) > self.max_ids:
            self.credited.popitem(last=False)

    def attribute(
        self, event: Event, lookup: Callable[[str], ServedList | None] | None = None
    ) -> Attribution | None:
        """The attribution of ``event`` by the rule above, or None (and nothing is
        credited) when it counts for no list."""
        item = event.item_id
        if event.type not in ATTRIBUTED_TYPES or item is None:
            return None
        found: tuple[ServedList, int] | None = None
        explicit = False
        rid = event.recommendation_id
        if rid:
            served = self.by_id.get(rid)
            if served is None and lookup is not None:
                served = lookup(rid)
            if (
                served is not None
                and served.user_id in ("", event.user_id)
                and item in served.item_ids
            ):
                found, explicit = (served, served.item_ids.index(item) + 1), True
        if found is None:
            found = self._latest_with(event.user_id, item, event.timestamp)
        if found is None:
            return None
        served, position = found
        key = (served.recommendation_id, position, kind_of(event.type))
        if key in self.credited:
            return None
        a = Attribution(
            served.recommendation_id, event.user_id, item, event.type, position,
            event.timestamp, served.timestamp, served.placement, served.variant,
            served.experiment, explicit,
        )  # fmt: skip
        self.note_credited(a)
        return a

    def _latest_with(self, user_id: str, item: str, ts: float) -> tuple[ServedList, int] | None:
        lists = self.by_user.get(user_id)
        if not lists:
            return None
        while lists and lists[0].timestamp < ts - self.window_s - CLOCK_SKEW_S:
            lists.popleft()  # past any window from now on (events come roughly in order)
        for served in reversed(lists):
            if served.timestamp > ts + CLOCK_SKEW_S:
                continue
            if served.timestamp < ts - self.window_s:
                break
            if item in served.item_ids:
                return served, served.item_ids.index(item) + 1
        return None

    def forget_user(self, user_id: str) -> None:
        """Drop a user's lists."""
        for served in self.by_user.pop(user_id, ()):
            self.by_id.pop(served.recommendation_id, None)


def list_key(event: Event) -> tuple[str, float]:
    """The logged list an event belongs to where lists are logged as ``impression``
    events: the same user at the same timestamp."""
    return (event.user_id, event.timestamp)


def listed_times(frame: pd.DataFrame) -> pd.Series:
    """Times of the positive events chosen from a logged list (an impression of the same
    user at the same time)."""
    shown = frame.loc[frame["type"] == "impression", ["user_id", "timestamp"]].drop_duplicates()
    if shown.empty:
        return pd.Series([], dtype=float)
    positive = frame[frame["item_id"].notna() & ~frame["type"].isin(NEGATIVE_TYPES)]
    chosen = positive[["user_id", "timestamp"]].merge(shown, on=["user_id", "timestamp"])
    return chosen["timestamp"]


def shown_lists(events: Iterable[Event], catalog: Catalog) -> dict[tuple[str, float], np.ndarray]:
    """The items each user was shown and passed over, by :func:`list_key`: a logged list's
    ``impression`` events share its time, and its clicks were chosen among them."""
    lists: dict[tuple[str, float], list[int]] = {}
    for event in events:
        if event.type == "impression" and event.item_id is not None and event.item_id in catalog:
            lists.setdefault(list_key(event), []).append(catalog.idx(event.item_id))
    return {key: np.asarray(items, dtype=np.int64) for key, items in lists.items()}
