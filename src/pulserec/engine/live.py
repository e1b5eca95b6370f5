"""Item-side signals learned online, on every event, between refits.

- trending at four time scales: a slow one (days) that suits catalogs whose taste moves
  slowly, a fast one (an hour) that follows news and launches, one of minutes (a news
  portal's front page) and one of about a year (what newcomers start from);
- co-visitation of consecutive items: each positive event pairs its item with the user's
  few previous ones, decayed over time, so an item published an hour ago already has
  neighbours long before the next refit;
- recent sessions of every user (:class:`LiveSessions`), so a user with one or two
  events is compared with the sessions that started like theirs (session-kNN);
- click-through rates where the log carries impressions (:class:`LiveCTR`);
- when each item was first taken (:class:`FirstTaken`), so that its counts can be read as
  a rate over the time it has been out;
- factor vectors of items the models were not fitted on, folded in from their first
  events (:class:`~pulserec.engine.foldin.ItemFoldIn`);

A refit's validation replay keeps its own :class:`LiveSignals`, so the ranking weights
of these features are fitted on what was known at each moment, never on the future.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from pulserec.engine.arrays import extended
from pulserec.engine.decay import DecayClock
from pulserec.engine.foldin import ItemFoldIn
from pulserec.engine.modelset import ModelSet
from pulserec.engine.trending import Trending
from pulserec.models.sessionknn import SessionKNN


class LiveCovisit:
    """Decayed co-visitation counts of item pairs, updated per event, memory bounded.

    Values are kept relative to a reference time (a
    :class:`~pulserec.engine.decay.DecayClock`'s anchor, set by the first pair) and
    rescaled now and then, so adding is O(1) and reading a value decays it to the reading
    time. At most ``max_neighbours`` per item (the weakest leaves) and ``max_rows`` items
    (the least recently updated leaves): about 100 bytes a pair, so 20 x 20,000 stay
    under 40 MB.
    """

    def __init__(self, half_life_s: float, max_neighbours: int, max_rows: int) -> None:
        # rebase before the stored numbers grow out of range
        self.clock = DecayClock(half_life_s, rebase_at=50.0)
        self.max_neighbours = max_neighbours
        self.max_rows = max_rows
        self.rows: OrderedDict[int, dict[int, float]] = OrderedDict()
        self.pairs = 0

    @property
    def rate(self) -> float:
        """The decay rate, ``ln 2 / half_life_s``."""
        return self.clock.rate

    @property
    def ref_ts(self) -> float | None:
        """The time the stored values are expressed at; None before the first pair."""
        return self.clock.anchor_ts if self.clock.anchored else None

    def add(self, previous: list[int], item: int, ts: float) -> None:
        """Pair ``item`` with the user's ``previous`` items (newest first) both ways."""
        if not previous:
            return
        weight, shrink = self.clock.grow(ts)
        if shrink is not None:
            for row in self.rows.values():
                for j in row:
                    row[j] *= shrink
        for rank, other in enumerate(previous):
            if other == item:
                continue
            w = weight / (1.0 + rank)  # the item just before counts most
            self._bump(other, item, w)
            self._bump(item, other, w)
            self.pairs += 1

    def _bump(self, a: int, b: int, w: float) -> None:
        row = self.rows.get(a)
        if row is None:
            row = self.rows[a] = {}
            if len(self.rows) > self.max_rows:
                self.rows.popitem(last=False)
        else:
            self.rows.move_to_end(a)
        row[b] = row.get(b, 0.0) + w
        if len(row) > self.max_neighbours:
            del row[min(row, key=row.__getitem__)]

    def votes(
        self, recent: list[int], decay: float, ts: float
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Votes of the user's ``recent`` items (newest first) at time ``ts``:
        ``(items, votes)``, items sorted; older recent items count ``decay`` times less."""
        if not self.clock.anchored:
            return None
        keys: list[int] = []
        vals: list[float] = []
        for rank, item in enumerate(recent):
            row = self.rows.get(item)
            if row:
                keys.extend(row)
                w = decay**rank
                vals.extend(v * w for v in row.values())
        if not keys:
            return None
        items, inverse = np.unique(np.asarray(keys, dtype=np.int64), return_inverse=True)
        now = self.clock.decay(ts)
        return items, np.bincount(inverse, weights=np.asarray(vals) * now)


LATEST_ITEMS = 20
"""Latest items of each user compared by the gap-free neighbours (LiveSessions.latest)."""


class LiveSessions:
    """Every user's recent sessions, for session-kNN (V-SKNN), learned per event.

    A session is a run of one user's positive events with gaps under ``gap_s``; it is
    keyed by ``(user_id, start time)``, so a user's sessions can be found and forgotten.
    Memory is bounded by ``max_sessions`` sessions of at most 50 items (the oldest
    session leaves first) and by ``max_users`` users whose current session is tracked.
    """

    def __init__(self, gap_s: float, max_sessions: int, max_users: int = 200_000) -> None:
        self.gap_s = gap_s
        self.max_users = max_users
        self.knn = SessionKNN(max_sessions=max_sessions)
        self.current: OrderedDict[str, tuple[float, float]] = OrderedDict()
        """user id -> (their current session's start time, their latest event's time)"""
        self.latest = SessionKNN(max_sessions=max_sessions, max_session_len=LATEST_ITEMS)
        """Each user's latest items whatever the gaps, keyed by user id: the neighbours of
        users whose events are days apart (reviews, ratings), where sessions hold one item."""

    def add(self, user_id: str, item: int, ts: float) -> None:
        held = self.current.get(user_id)
        start = ts if held is None or ts - held[1] >= self.gap_s else held[0]
        self.current[user_id] = (start, max(ts, held[1]) if held else ts)
        self.current.move_to_end(user_id)
        if len(self.current) > self.max_users:
            self.current.popitem(last=False)
        self.knn.add((user_id, start), item, ts)
        self.latest.add(user_id, item, ts)

    def latest_votes(self, user_id: str, items: list[int]) -> tuple[np.ndarray, np.ndarray] | None:
        """Scores of the items held by the users whose latest items are nearest to
        ``items`` (oldest first); the user is not their own neighbour."""
        if not items:
            return None
        found, scores = self.latest.votes(items, session_id=user_id)
        return (found, scores) if len(found) else None

    def session_of(self, recent: Sequence[tuple[int, float, float]]) -> list[int]:
        """The latest session in a user's ``recent`` (item, weight, time) entries, oldest
        first: positive items back from the newest while gaps stay under ``gap_s``."""
        items: list[int] = []
        later: float | None = None
        for item, weight, ts in reversed(recent):
            if weight <= 0:
                continue
            if later is not None and later - ts >= self.gap_s:
                break
            items.append(item)
            later = ts
        return items[::-1]

    def votes(self, user_id: str, session: list[int]) -> tuple[np.ndarray, np.ndarray] | None:
        """Session-kNN scores of the items the sessions nearest to ``session`` hold
        (``(items, scores)``, items sorted); the user's own sessions are not neighbours."""
        if not session:
            return None
        held = self.current.get(user_id)
        own = (user_id, held[0]) if held is not None else None
        items, scores = self.knn.votes(session, session_id=own)
        return (items, scores) if len(items) else None

    def forget(self, user_id: str) -> int:
        """Drop every session of ``user_id``; returns how many were held."""
        self.current.pop(user_id, None)
        self.latest.remove(user_id)
        keys = [k for k in self.knn.sessions() if isinstance(k, tuple) and k[0] == user_id]
        for key in keys:
            self.knn.remove(key)
        return len(keys)


class LiveCTR:
    """Shows and clicks per item, counted per event: popularity normalised by exposure.

    An ``impression`` event (shown, not taken) adds a show; a positive event taken from a
    logged list (an impression of the same user at the same time) adds a click and a
    show (a log records a clicked item as a click only); clicks made elsewhere (search,
    an item page) do not count. The rate is
    ``(clicks + prior_clicks) / (shows + prior_shows)``: with the defaults an item never
    shown sits at 4%, the base rate of a news feed.
    """

    def __init__(self, prior_clicks: float = 0.4, prior_shows: float = 10.0) -> None:
        self.prior_clicks = prior_clicks
        self.prior_shows = prior_shows
        self.shows = np.zeros(0, dtype=np.float64)
        self.clicks = np.zeros(0, dtype=np.float64)
        self.impressions = 0
        """Impression events counted: the rate means something only where there are some."""

    def _grow(self, n: int) -> None:
        self.shows, self.clicks = extended(self.shows, n), extended(self.clicks, n)

    def show(self, item: int) -> None:
        self._grow(item + 1)
        self.shows[item] += 1.0
        self.impressions += 1

    def click(self, item: int) -> None:
        self._grow(item + 1)
        self.shows[item] += 1.0
        self.clicks[item] += 1.0

    def rates(self, items: np.ndarray) -> np.ndarray:
        """The smoothed click-through rate of each of ``items``."""
        self._grow(int(items.max()) + 1 if len(items) else 0)
        return (self.clicks[items] + self.prior_clicks) / (self.shows[items] + self.prior_shows)  # type: ignore[no-any-return]


class FirstTaken:
    """The time of each item's first positive event counted (``inf``: none yet)."""

    def __init__(self) -> None:
        self.ts = np.full(0, np.inf)

    def add(self, item: int, ts: float) -> None:
        """Count a positive event on ``item`` at ``ts``."""
        self.ts = extended(self.ts, item + 1, np.inf)
        if ts < self.ts[item]:
            self.ts[item] = ts

    def add_many(self, items: np.ndarray, ts: np.ndarray) -> None:
        """:meth:`add` for a batch of events, in any order."""
        if len(items):
            self.ts = extended(self.ts, int(items.max()) + 1, np.inf)
            np.fmin.at(self.ts, items, ts)

    def at(self, items: np.ndarray) -> np.ndarray:
        """The first times of ``items`` (``inf`` for items never taken)."""
        out = np.full(len(items), np.inf)
        inside = items < len(self.ts)
        out[inside] = self.ts[items[inside]]
        return out


class LiveSignals:
    """Trending at four scales (minutes, the hour, days, about a year), each item's first
    time taken, click-through rates, live co-visitation and recent sessions, per event."""

    def __init__(
        self,
        slow_half_life_s: float,
        fast_half_life_s: float,
        covisit_half_life_s: float,
        covisit_neighbours: int = 20,
        covisit_rows: int = 20_000,
        session_gap_s: float = 1800.0,
        max_sessions: int = 50_000,
        als_alpha: float = 2.0,
        als_regularization: float = 0.05,
        popular_half_life_s: float = 365 * 86400.0,
        now_half_life_s: float = 600.0,
    ) -> None:
        self.trending = Trending(slow_half_life_s)
        self.trending_fast = Trending(fast_half_life_s)
        # a news portal's clicks follow its front page, which changes by the minute: on one
        # day of globo.com's clicks a 10-minute count's top 10 held the next click 68 % of
        # the time, the hour's 64 %
        self.trending_now = Trending(now_half_life_s)
        # what has been taken most over a long time: a new user's first choice on a site
        # that shows its all-time favourites first (ml-latest-small: a year's counts hit
        # 48 % of first events, three days' 7 %; ml-100k the other way round, 20 % and 48 %)
        self.popular = Trending(popular_half_life_s)
        self.scales = (self.trending, self.trending_fast, self.trending_now, self.popular)
        """Every trending scale: each positive event counts in all of them."""
        self.covisit = LiveCovisit(covisit_half_life_s, covisit_neighbours, covisit_rows)
        self.sessions = LiveSessions(session_gap_s, max_sessions)
        self.ctr = LiveCTR()
        self.foldin = ItemFoldIn(als_alpha, als_regularization)
        self.first_taken = FirstTaken()
        self.pairs_frozen = False

    @property
    def now(self) -> float:
        """The latest event time counted."""
        return max(self.trending.ref_ts, self.trending_fast.ref_ts)

    def add(
        self,
        item: int,
        ts: float,
        previous: list[int] | None = None,
        user_id: str | None = None,
        *,
        listed: bool = False,
        models: ModelSet | None = None,
    ) -> None:
        """Count a positive event on ``item``; ``previous`` are the user's items before it
        (newest first), or None where they are not known (the log read at start),
        ``user_id`` whose session it joins (None: a flagged or anonymous event), and
        ``listed`` whether it was taken from a logged list (a click of its rate), and
        ``models`` those a fresh item's factor vector is folded in against."""
        self.trend(item, ts)
        self.add_untrended(item, ts, previous, user_id, listed=listed, models=models)

    def trend(self, item: int, ts: float) -> None:
        """Count a positive event on ``item`` at ``ts`` into every trending scale (and
        the item's first time taken)."""
        self.first_taken.add(item, ts)
        for scale in self.scales:
            scale.add(item, ts)

    def trend_many(self, items: np.ndarray, ts: np.ndarray) -> None:
        """:meth:`trend` for a batch of events at once (equal up to rounding)."""
        self.first_taken.add_many(np.asarray(items, dtype=np.int64), np.asarray(ts, float))
        for scale in self.scales:
            scale.add_many(items, ts)

    def add_untrended(
        self,
        item: int,
        ts: float,
        previous: list[int] | None = None,
        user_id: str | None = None,
        *,
        listed: bool = False,
        models: ModelSet | None = None,
    ) -> None:
        """What :meth:`add` counts but trending (:meth:`trend`, or :meth:`trend_many`
        for a batch of events at once)."""
        if listed:
            self.ctr.click(item)
        if self.pairs_frozen:
            return
        if previous:
            self.covisit.add(previous, item, ts)
        if user_id is not None:
            self.sessions.add(user_id, item, ts)
            if models is not None:
                self.foldin.add(models, item, user_id)

    def shown(self, item: int) -> None:
        """Count an impression of ``item`` that was not taken."""
        self.ctr.show(item)

    def forget_user(self, user_id: str) -> None:
        """Drop what is held per user (their sessions); counts keep no id."""
        self.sessions.forget(user_id)
