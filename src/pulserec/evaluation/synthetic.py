"""Event logs of a shape you set: users, items, trends, drift, item arrival.

:func:`load_synthetic` generates a seeded :class:`~pulserec.events.base.Dataset`
(``click`` events; items with a topic and a short text of topic words) from
the knobs of :class:`SyntheticShape`; :func:`shape_stats` measures the same
shape statistics on a real dataset and on a generated one, so a preset can be
calibrated against the data it imitates. :data:`PRESETS` holds four shapes:
dense film ratings (ml-100k-like), one day of news clicks (globo-like), a
sparse shop, and short visits to a wide catalog (visits-like: mostly new users).

How an event is drawn. Each user has a number of events (a share of users
with exactly one, the others log-normal around a median), grouped into
sessions at random times inside the user's active span of the timeline. Each
event belongs to a topic: the user's first topic at random, then at each
event a switch to a random topic with probability ``drift``. With probability
``trend_strength`` the item comes from the current hot set (``n_hot`` items
drawn by appeal among those available; it moves every ``trend_period_s``);
otherwise from the event's topic (or, with probability ``noise``, any topic),
with probability proportional to the item's appeal: a Zipf-like quality,
times ``2 ** (-age / freshness_half_life_s)`` when items age. Items are
available from their arrival: a share ``arrival_share`` arrives uniformly over
the timeline, the rest is there from the start. A user does not take the same
item twice.

Examples
--------
>>> ds = load_synthetic(preset="shop-like", n_users=200, n_items=300, seed=1)
>>> ds.name, ds.events["type"].unique().tolist()
('synthetic:shop-like', ['click'])
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pulserec.config import DEFAULT_SEED
from pulserec.events.base import Dataset
from pulserec.events.frames import event_frame, finish, item_frame
from pulserec.types import NEGATIVE_TYPES

DAY = 86400.0
EPOCH = 1_700_000_000.0  # the generated timeline starts here (seconds)


@dataclass(frozen=True)
class SyntheticShape:
    """The knobs of a generated event log.

    Attributes
    ----------
    n_users, n_items, n_topics : int
        Sizes (``n_items`` counts every item of the timeline, late arrivals too).
    duration_s : float
        Length of the timeline.
    events_median : float
        Median events of a user with more than one (log-normal, at least 2).
    events_sigma : float
        Log-normal sigma of events per user: the heaviness of the tail.
    single_share : float
        Share of users with exactly one event.
    max_events : int
        Most events of one user.
    user_span : float
        Share of the timeline a user is active in (a random window of it).
    session_len : float
        Mean events per session (a new session starts at a random time of the span).
    arrival_share : float
        Share of the items that arrive during the timeline (uniformly) rather
        than being there from the start.
    freshness_half_life_s : float or None
        An item's appeal halves every this many seconds after its arrival
        (None: items do not age).
    trend_strength : float
        Share of the events that go to the current hot set.
    n_hot : int
        Items in the hot set.
    trend_period_s : float
        The hot set is drawn anew every this many seconds.
    drift : float
        Probability, per event, that the user switches to a random topic.
    noise : float
        Probability that an event's item comes from any topic.
    popularity_skew : float
        Zipf exponent of the items' quality (0: all alike).
    categories : bool
        Whether each item carries its topic as its category (False: a catalog without
        categories, where only the events say which items belong together; the events
        are the same either way).
    resolution_s : float or None
        Timestamps are cut down to a multiple of this many seconds (86400: a log that
        stamps dates, as reviews do; a user's events of one day keep their order but share
        a time). None: kept as drawn. The events are the same either way.
    """

    n_users: int = 1000
    n_items: int = 1500
    n_topics: int = 20
    duration_s: float = 60 * DAY
    events_median: float = 20.0
    events_sigma: float = 1.0
    single_share: float = 0.0
    max_events: int = 1000
    user_span: float = 0.3
    session_len: float = 5.0
    arrival_share: float = 0.1
    freshness_half_life_s: float | None = None
    trend_strength: float = 0.0
    n_hot: int = 10
    trend_period_s: float = 3 * DAY
    drift: float = 0.05
    noise: float = 0.1
    popularity_skew: float = 0.8
    categories: bool = True
    resolution_s: float | None = None

    def __post_init__(self) -> None:
        for name in ("n_users", "n_items", "n_topics", "max_events", "n_hot"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {getattr(self, name)}")
        for name in ("duration_s", "trend_period_s", "session_len"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: expected a value > 0, got {getattr(self, name)}")
        if not self.events_median >= 1:
            raise ValueError(f"events_median: expected a value >= 1, got {self.events_median}")
        for name in ("single_share", "arrival_share", "trend_strength", "drift", "noise"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}: expected a share in [0, 1], got {getattr(self, name)}")
        if not 0.0 < self.user_span <= 1.0:
            raise ValueError(f"user_span: expected a share in (0, 1], got {self.user_span}")
        if self.events_sigma < 0 or self.popularity_skew < 0:
            raise ValueError("events_sigma and popularity_skew: expected values >= 0")
        for name in ("freshness_half_life_s", "resolution_s"):
            seconds = getattr(self, name)
            if seconds is not None and not seconds > 0:
                raise ValueError(f"{name}: expected seconds > 0 or None, got {seconds}")


PRESETS: dict[str, SyntheticShape] = {
    # 943 users rating films over seven months: long histories, a settled catalog
    "ml-100k-like": SyntheticShape(
        n_users=943, n_items=1682, n_topics=18, duration_s=215 * DAY, events_median=70.0,
        events_sigma=1.0, single_share=0.0, max_events=700, user_span=0.15, session_len=40.0,
        arrival_share=0.1, trend_strength=0.05, trend_period_s=7 * DAY, drift=0.02,
        noise=0.3, popularity_skew=1.0,
    ),
    # one day of a news portal: two clicks a user, fresh articles every hour, hot stories
    "globo-like": SyntheticShape(
        n_users=20_000, n_items=2000, n_topics=25, duration_s=DAY, events_median=2.0,
        events_sigma=0.8, single_share=0.0, max_events=150, user_span=0.2, session_len=3.0,
        arrival_share=0.5, freshness_half_life_s=12 * 3600.0, trend_strength=0.65, n_hot=10,
        trend_period_s=6 * 3600.0, drift=0.3, noise=0.3, popularity_skew=1.0,
    ),
    # a shop: many one-off visitors, a large and slowly growing catalog, mild trends
    "shop-like": SyntheticShape(
        n_users=5000, n_items=5000, n_topics=40, duration_s=90 * DAY, events_median=6.0,
        events_sigma=1.0, single_share=0.35, max_events=300, user_span=0.2, session_len=3.0,
        arrival_share=0.15, trend_strength=0.05, trend_period_s=7 * DAY, drift=0.1,
        noise=0.2, popularity_skew=0.9,
    ),
    # short visits: most users new (45% with one event, median two), a wide catalog used
    # thinly (12,600 items touched by 20,000 users), a fifth of late events on items first
    # seen late, mild trends (the 10 hottest take 12% of late events)
    "visits-like": SyntheticShape(
        n_users=20_000, n_items=30_000, n_topics=200, duration_s=30 * DAY, events_median=3.0,
        events_sigma=0.9, single_share=0.45, max_events=300, user_span=0.1, session_len=4.0,
        arrival_share=0.05, freshness_half_life_s=5 * DAY, trend_strength=0.14, n_hot=20,
        trend_period_s=2 * DAY, drift=0.15, noise=0.2, popularity_skew=1.1,
    ),
}  # fmt: skip
"""Shapes calibrated on ml-100k, globo-news-clicks-day1, a sparse shop and short visits
(docs/realtime.md)."""


def shape_of(preset: str | None = None, **knobs: Any) -> SyntheticShape:
    """A preset (default: the default shape) with some knobs replaced."""
    if preset is None:
        base = SyntheticShape()
    elif preset in PRESETS:
        base = PRESETS[preset]
    else:
        raise ValueError(f"preset: unknown {preset!r}; expected one of {list(PRESETS)}")
    fields = {f.name for f in dataclasses.fields(SyntheticShape)}
    unknown = sorted(set(knobs) - fields)
    if unknown:
        raise ValueError(f"unknown knob(s) {unknown}; expected some of {sorted(fields)}")
    return dataclasses.replace(base, **knobs)


def load_synthetic(
    path: Any = None, *, preset: str | None = None, seed: int = DEFAULT_SEED, **knobs: Any
) -> Dataset:
    """Generate a dataset: a preset's shape (or the default one), some knobs replaced.

    ``path`` is ignored (the signature matches the dataset loaders').
    """
    name = "synthetic" if preset is None else f"synthetic:{preset}"
    return generate(shape_of(preset, **knobs), seed=seed, name=name)


def generate(
    shape: SyntheticShape, *, seed: int = DEFAULT_SEED, name: str = "synthetic"
) -> Dataset:
    """A seeded event log of the given shape (see the module docstring for how)."""
    return _draw(shape, seed=seed, name=name).dataset


@dataclass(frozen=True)
class Truth:
    """What drew a generated log's events: enough to compute each event's item
    probabilities (:mod:`pulserec.evaluation.oracle`).

    Items and users are the generator's indices (item id ``f"i{index}"``, user id
    ``f"u{index}"``).
    """

    shape: SyntheticShape
    topic: np.ndarray
    """Each item's topic."""
    window_s: float
    """Width of a window of the timeline (seconds): appeal and hot set are constant in one."""
    appeal: np.ndarray
    """``(n_windows, n_items)``: each item's appeal in each window (0 before its arrival)."""
    hot: list[np.ndarray]
    """Per window, the hot set's items."""
    event_topic: dict[tuple[str, str], int]
    """The topic each kept event was drawn from, by (user id, item id)."""

    def window(self, timestamp: float) -> int:
        """The window of an event's timestamp (the dataset's seconds)."""
        w = int((timestamp - EPOCH) // self.window_s)
        return min(max(w, 0), len(self.appeal) - 1)


def generate_with_truth(
    shape: SyntheticShape, *, seed: int = DEFAULT_SEED, name: str = "synthetic"
) -> tuple[Dataset, Truth]:
    """:func:`generate`'s log and the :class:`Truth` that drew it."""
    drawn = _draw(shape, seed=seed, name=name)
    raw = drawn.raw
    pairs = zip(raw["user_id"].tolist(), raw["item_id"].tolist(), strict=True)
    truth = Truth(
        shape=shape,
        topic=drawn.topic,
        window_s=drawn.timeline.width,
        appeal=drawn.timeline.appeal(),
        hot=drawn.timeline.hot,
        event_topic=dict(zip(pairs, drawn.event_topic.tolist(), strict=True)),
    )
    return drawn.dataset, truth


@dataclass(frozen=True)
class _Drawn:
    """One seeded draw: the log, and what :class:`Truth` is built from when it is asked for.

    The per-window appeal matrix and the per-event topic map are built only by
    :func:`generate_with_truth`, so :func:`generate` does not pay for them.
    """

    dataset: Dataset
    topic: np.ndarray
    """Each item's topic."""
    timeline: _Timeline
    raw: pd.DataFrame
    """The kept events, in drawing order (before :func:`finish` cleans them)."""
    event_topic: np.ndarray
    """The topic each row of ``raw`` was drawn from."""


def _draw(shape: SyntheticShape, *, seed: int, name: str) -> _Drawn:
    rng = np.random.default_rng(seed)
    topic, arrival, quality = _items(shape, rng)
    user, ts = _event_times(shape, rng)
    event_topic = _topics(shape, user, rng)
    timeline = _Timeline(shape, topic, arrival, quality, rng)
    item = timeline.draw(shape, ts, event_topic, rng)
    for _ in range(3):  # a user takes an item once: draw repeats again, then drop what is left
        dup = pd.DataFrame({"u": user, "i": item}).duplicated().to_numpy()
        if not dup.any():
            break
        item[dup] = timeline.draw(shape, ts[dup], event_topic[dup], rng)
    keep = ~pd.DataFrame({"u": user, "i": item}).duplicated().to_numpy()
    stamps = EPOCH + ts[keep]
    if shape.resolution_s is not None:  # drawn in time order: a day's events keep theirs
        stamps = np.floor(stamps / shape.resolution_s) * shape.resolution_s
    raw = event_frame(
        np.char.add("u", user[keep].astype(str)),
        np.char.add("i", item[keep].astype(str)),
        "click",
        stamps,
    )
    items = _item_texts(shape, topic, arrival, rng)
    dataset = finish(name, raw, items, value_range=None, verbose=False)
    return _Drawn(dataset, topic, timeline, raw, event_topic[keep])


def _items(shape: SyntheticShape, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    n = shape.n_items
    topic = rng.integers(0, shape.n_topics, n)
    late = rng.random(n) < shape.arrival_share
    arrival = np.where(late, rng.random(n) * shape.duration_s, 0.0)
    quality = (rng.permutation(n) + 1.0) ** -shape.popularity_skew
    return topic, arrival, quality


def _event_times(shape: SyntheticShape, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Each event's user and time, sorted by time."""
    u = shape.n_users
    counts = np.maximum(2, np.rint(shape.events_median * rng.lognormal(0.0, shape.events_sigma, u)))
    counts = np.minimum(counts, shape.max_events).astype(np.int64)
    counts[rng.random(u) < shape.single_share] = 1
    user = np.repeat(np.arange(u), counts)
    span = shape.user_span * shape.duration_s
    start = rng.random(u) * (shape.duration_s - span)
    # sessions: a new one starts with probability 1 / session_len at each event
    new_session = rng.random(len(user)) < 1.0 / shape.session_len
    first = np.r_[0, np.cumsum(counts)[:-1]]
    new_session[first] = True
    session_start = start[user] + rng.random(len(user)) * span
    last = np.maximum.accumulate(np.where(new_session, np.arange(len(user)), 0))
    within = rng.exponential(60.0, len(user))  # about a minute between a session's events
    within[new_session] = 0.0
    steps = np.cumsum(within)
    ts = session_start[last] + steps - steps[last]
    ts = np.minimum(ts, shape.duration_s - 1e-3)
    order = np.argsort(ts, kind="stable")
    return user[order], ts[order]


def _topics(shape: SyntheticShape, user: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The topic of each event: a random first one per user, then drift (events by time)."""
    by_user = np.argsort(user, kind="stable")
    u_sorted = user[by_user]
    switch = rng.random(len(user)) < shape.drift
    switch[np.r_[True, u_sorted[1:] != u_sorted[:-1]]] = True
    draws = rng.integers(0, shape.n_topics, len(user))
    last = np.maximum.accumulate(np.where(switch, np.arange(len(user)), 0))
    out = np.empty(len(user), dtype=np.int64)
    out[by_user] = draws[last]
    return out


class _Timeline:
    """Per window of the timeline: each item's appeal, and the hot set of its trend period."""

    def __init__(
        self,
        shape: SyntheticShape,
        topic: np.ndarray,
        arrival: np.ndarray,
        quality: np.ndarray,
        rng: np.random.Generator,
    ) -> None:
        # windows no longer than a trend period, and at least 50 of them
        width = min(shape.trend_period_s, shape.duration_s / 50)
        self.n_windows = max(1, int(np.ceil(shape.duration_s / width)))
        self.width = shape.duration_s / self.n_windows
        self.by_topic = np.argsort(topic, kind="stable")  # items grouped by topic
        self.bounds = np.searchsorted(topic[self.by_topic], np.arange(shape.n_topics + 1))
        self.cum: list[np.ndarray] = []  # cumulative appeal in by_topic order, per window
        self.hot: list[np.ndarray] = []
        hot_period, hot = -1, np.zeros(0, dtype=np.int64)
        for w in range(self.n_windows):
            t = (w + 0.5) * self.width
            appeal = np.where(arrival <= w * self.width, quality, 0.0)  # arrived by its start
            if shape.freshness_half_life_s is not None:
                age = np.maximum(t - arrival, 0.0)
                appeal = appeal * np.exp2(-age / shape.freshness_half_life_s)
            if not appeal.any():  # nothing has arrived yet: the earliest arrivals stand in
                appeal = (arrival == arrival.min()) * quality
            period = int(t // shape.trend_period_s)
            if period != hot_period:
                available = np.flatnonzero(appeal > 0)
                p = appeal[available] / appeal[available].sum()
                n_hot = min(shape.n_hot, len(available))
                hot = rng.choice(available, n_hot, replace=False, p=p)
                hot_period = period
            self.cum.append(np.cumsum(appeal[self.by_topic]))
            self.hot.append(hot)

    def window(self, ts: np.ndarray) -> np.ndarray:
        return np.minimum((ts // self.width).astype(np.int64), self.n_windows - 1)

    def appeal(self) -> np.ndarray:
        """``(n_windows, n_items)``: each item's appeal per window, in item order."""
        out = np.zeros((self.n_windows, len(self.by_topic)))
        for w, cum in enumerate(self.cum):
            out[w, self.by_topic] = np.diff(cum, prepend=0.0)
        return out

    def draw(
        self,
        shape: SyntheticShape,
        ts: np.ndarray,
        event_topic: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Each event's item (``ts`` sorted), vectorised within a window."""
        window = self.window(ts)
        trend = rng.random(len(ts)) < shape.trend_strength
        anywhere = rng.random(len(ts)) < shape.noise
        item = np.empty(len(ts), dtype=np.int64)
        starts = np.searchsorted(window, np.arange(self.n_windows + 1))
        for w in np.flatnonzero(np.diff(starts)).tolist():
            lo, hi = starts[w], starts[w + 1]
            cum = self.cum[w]
            edges = np.r_[0.0, cum]
            seg_lo, seg_hi = edges[self.bounds[:-1]], edges[self.bounds[1:]]
            z = event_topic[lo:hi]
            pick_any = anywhere[lo:hi] | (seg_hi[z] <= seg_lo[z])  # an empty topic: any item
            low = np.where(pick_any, 0.0, seg_lo[z])
            high = np.where(pick_any, cum[-1], seg_hi[z])
            u = low + rng.random(hi - lo) * (high - low)
            chosen = self.by_topic[np.minimum(np.searchsorted(cum, u, side="right"), len(cum) - 1)]
            is_trend = trend[lo:hi]
            hot = self.hot[w]
            chosen[is_trend] = hot[rng.integers(0, len(hot), int(is_trend.sum()))]
            item[lo:hi] = chosen
        return item


def _syllables(rng: np.random.Generator, n: int) -> list[str]:
    cons, vows = list("bdfgklmnprstvz"), list("aeiou")
    return [
        "".join(rng.choice(cons) + rng.choice(vows) for _ in range(int(rng.integers(2, 4))))
        for _ in range(n)
    ]


def _item_texts(
    shape: SyntheticShape, topic: np.ndarray, arrival: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """Items with a title and a text of their topic's words (and a little noise)."""
    vocab = [_syllables(rng, 8) for _ in range(shape.n_topics)]
    common = _syllables(rng, 30)
    titles, texts = [], []
    for i, z in enumerate(topic.tolist()):
        words = rng.choice(vocab[z], 6).tolist()
        titles.append(f"{words[0].title()} {words[1]} {i}")
        texts.append(" ".join([*words, *rng.choice(common, 2).tolist()]))
    n = shape.n_items
    return item_frame(
        np.char.add("i", np.arange(n).astype(str)),
        titles,
        texts,
        [(f"topic-{z}",) if shape.categories else () for z in topic.tolist()],
        [{"topic": int(z)} for z in topic.tolist()],
        EPOCH + arrival,
    )


def shape_stats(dataset: Dataset, *, train_fraction: float = 0.8) -> dict[str, float]:
    """The shape statistics a preset is calibrated on, for any dataset.

    Positive events only. ``new_item_share``: share of the events after the
    time cut on items whose first event (of any type) is at or after it;
    ``top10_share``: share of those events on the 10 items most frequent
    among them; ``items_per_user``: mean distinct items per user.
    """
    events = dataset.events
    cut = float(events["timestamp"].quantile(train_fraction))
    first = events.groupby("item_id")["timestamp"].min()
    pos = events[events["item_id"].notna() & ~events["type"].isin(NEGATIVE_TYPES)]
    per_user = pos.groupby("user_id").size()
    test = pos[pos["timestamp"] >= cut]
    counts = test["item_id"].value_counts()
    return {
        "users": float(pos["user_id"].nunique()),
        "items": float(pos["item_id"].nunique()),
        "events": float(len(pos)),
        "median_events_per_user": float(per_user.median()),
        "single_event_user_share": float((per_user == 1).mean()),
        "items_per_user": float(pos.groupby("user_id")["item_id"].nunique().mean()),
        "new_item_share": float((first.reindex(test["item_id"]).to_numpy() >= cut).mean())
        if len(test)
        else 0.0,
        "top10_share": float(counts.iloc[:10].sum() / len(test)) if len(test) else 0.0,
    }
