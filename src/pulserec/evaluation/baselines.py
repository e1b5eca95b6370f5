"""Baselines of the streaming replay, learned from the same event stream as the engine.

* popularity: training counts, frozen at the cut-off;
* live trending: time-decayed counts updated on every event (at one or more
  half-lives);
* session-kNN (:class:`~pulserec.models.sessionknn.SessionKNN`), updated on
  every event; its list is topped up from live trending when its neighbours
  hold fewer than ``k`` unseen items (a new session has no neighbours at all).

Every baseline excludes the items the user has already consumed, as the engine
does, and is scored on exactly the engine's scored events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pulserec.config import EngineSettings
from pulserec.models.sessionknn import SessionKNN, SessionTracker


class LiveTrending:
    """Exponentially time-decayed interaction counts per item, one update per event.

    Counts are stored scaled to a reference time, so an update costs O(1) and
    the ranking is exact (scaling every count alike keeps the order); the
    reference moves forward before the scale could overflow.

    Parameters
    ----------
    half_life_s : float
        A count's weight halves every this many seconds.
    n_items : int
        Items known at the start (the count array grows as needed).

    Examples
    --------
    >>> tr = LiveTrending(half_life_s=10.0, n_items=3)
    >>> tr.add(0, 0.0); tr.add(0, 0.0); tr.add(1, 20.0)  # two old events < one new
    >>> tr.top(2).tolist(), tr.top(2, exclude=np.array([1])).tolist()
    ([1, 0], [0, 2])
    """

    _MAX_EXPONENT = 300.0  # exp(300) is far from float64 overflow (~exp(709))

    def __init__(self, half_life_s: float, n_items: int = 0) -> None:
        if not half_life_s > 0:
            raise ValueError(f"half_life_s: expected seconds > 0, got {half_life_s}")
        self.half_life_s = half_life_s
        self.rate = math.log(2.0) / half_life_s
        self.values = np.zeros(n_items, dtype=np.float64)
        self.ref_ts: float | None = None

    def add(self, item_idx: int, ts: float, weight: float = 1.0) -> None:
        """Count one interaction with ``item_idx`` at time ``ts``."""
        if item_idx >= len(self.values):
            self.values = np.r_[self.values, np.zeros(item_idx + 1 - len(self.values))]
        if self.ref_ts is None:
            self.ref_ts = ts
        exponent = self.rate * (ts - self.ref_ts)
        if exponent > self._MAX_EXPONENT:  # rebase: express every count at ts
            self.values *= math.exp(-exponent)
            self.ref_ts, exponent = ts, 0.0
        self.values[item_idx] += weight * math.exp(exponent)

    def top(self, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
        """The ``k`` most trending items, ``exclude`` left out; ties to the lower index."""
        return top_k(self.values, k, exclude)


def top_k(scores: np.ndarray, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first, ties to the lower index.

    Items in ``exclude`` are never returned; fewer than ``k`` come back only
    when fewer remain.

    Examples
    --------
    >>> top_k(np.array([1.0, 3.0, 3.0, 0.0, 2.0]), 3, exclude=np.array([2])).tolist()
    [1, 4, 0]
    """
    s = scores.astype(np.float64, copy=True)
    if exclude is not None and len(exclude):
        s[exclude[exclude < len(s)]] = -np.inf
    allowed = len(s) - int(np.isneginf(s).sum())
    k = min(k, allowed)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    kth = np.partition(s, len(s) - k)[len(s) - k]
    above = np.flatnonzero(s > kth)
    tied = np.flatnonzero(s == kth)[: k - len(above)]
    picked = np.concatenate([above, tied])
    return picked[np.lexsort((picked, -s[picked]))]


def rank_of(items: np.ndarray, target: int) -> int:
    """The 1-based position of ``target`` in a list, 0 when it is absent."""
    hits = np.flatnonzero(items == target)
    return int(hits[0]) + 1 if len(hits) else 0


SHORT_HALF_LIVES_S = (3600.0, 600.0)
"""The short live-trending half-lives replayed beside the engine's: news moves by the hour,
and a portal's front page by the minute (on one day of globo.com's clicks the 10-minute
list ranked best of the three)."""


@dataclass(frozen=True)
class BaselineSettings:
    """How the replay's baselines are set.

    Attributes
    ----------
    half_lives_s : tuple of float
        One live-trending baseline per half-life; the first (by default the
        engine's own ``trending_half_life_s``) also fills session-kNN's lists.
    session_gap_s : float or None
        Session-kNN's session split (see
        :class:`~pulserec.models.sessionknn.SessionTracker`); ``None`` for one
        running session of the latest ``session_len`` items per user.
    session_len : int
        Latest items of a session kept, and of the current session compared.
    n_neighbors, sample_size : int
        Session-kNN's neighbours and sampled candidates.
    """

    half_lives_s: tuple[float, ...] = field(
        default_factory=lambda: (EngineSettings().trending_half_life_s, *SHORT_HALF_LIVES_S)
    )
    session_gap_s: float | None = 1800.0
    session_len: int = 20
    n_neighbors: int = 100
    sample_size: int = 500


def trending_name(half_life_s: float, default_s: float) -> str:
    """``trending`` for the default half-life, else e.g. ``trending-1h``."""
    if half_life_s == default_s:
        return "trending"
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if half_life_s >= size and half_life_s % size == 0:
            return f"trending-{int(half_life_s // size)}{unit}"
    return f"trending-{half_life_s:g}s"


class Baselines:
    """Every baseline of one replay, learned event by event.

    Parameters
    ----------
    settings : BaselineSettings
        Half-lives and session-kNN's setting.
    n_items : int
        Items in the replay's catalog.
    pop_counts : ndarray
        Positive training events per item (the frozen popularity).
    """

    def __init__(self, settings: BaselineSettings, n_items: int, pop_counts: np.ndarray) -> None:
        self.settings = settings
        self.pop_order = np.argsort(-pop_counts, kind="stable")
        self.trending = [LiveTrending(h, n_items) for h in settings.half_lives_s]
        self.knn = SessionKNN(
            n_neighbors=settings.n_neighbors,
            sample_size=settings.sample_size,
            max_session_len=settings.session_len,
        )
        self.tracker = SessionTracker(settings.session_gap_s, settings.session_len)
        self.knn_found = 0  # scored events where session-kNN proposed at least one item

    def names(self) -> list[str]:
        """The baselines' names, in the order :meth:`rank` returns their ranks."""
        default = self.settings.half_lives_s[0]
        trend = [trending_name(t.half_life_s, default) for t in self.trending]
        return ["popularity", *trend, "session-knn"]

    def learn(self, user_id: str, item_idx: int, ts: float) -> None:
        """One positive event of any user."""
        for t in self.trending:
            t.add(item_idx, ts)
        self.knn.add(self.tracker.add(user_id, item_idx, ts), item_idx, ts)

    def rank(self, user_id: str, ts: float, target: int, seen: set[int], k: int) -> list[int]:
        """Each baseline's 1-based rank of ``target`` in its top-``k`` (0: a miss)."""
        exclude = np.fromiter(seen, dtype=np.int64, count=len(seen))
        ranks = [pop_rank(self.pop_order, seen, target, k)]
        ranks += [rank_of(t.top(k, exclude), target) for t in self.trending]
        items, _ = self.knn.recommend(
            self.tracker.current(user_id, ts), k, exclude,
            session_id=self.tracker.key(user_id, ts),
        )  # fmt: skip
        self.knn_found += len(items) > 0
        if len(items) < k:
            fill = self.trending[0].top(k, np.concatenate([exclude, items]))
            items = np.concatenate([items, fill[: k - len(items)]])
        ranks.append(rank_of(items, target))
        return ranks


def pop_rank(order: np.ndarray, seen: set[int], target: int, k: int) -> int:
    """Rank of ``target`` in a fixed popularity order with ``seen`` left out (0: a miss)."""
    rank = 0
    for item in order[: k + len(seen)].tolist():
        if item in seen:
            continue
        rank += 1
        if item == target:
            return rank
        if rank == k:
            break
    return 0
