"""A deterministic synthetic interaction history for the demo catalog.

The history is built to look like real use of a mixed shop / news / video site:

* every user has one to three favourite topics with weights, a language preference
  (English, Chinese or both) and an activity level;
* users come back in sessions spread over ``days`` days (more often in the evening);
* a session opens on one topic (now and then with a search typed in the user's
  language), walks through items of that topic, often staying in one subtopic, and
  sometimes drifts to another favourite or to a related topic;
* each item is viewed; favourite-topic items are often clicked, and then put in the cart
  and bought (products) or liked (articles and videos); off-topic items are mostly
  ignored and sometimes disliked; a few items get a short comment, positive or negative,
  in English or Chinese;
* within a topic, items follow a Zipf-like popularity, and no item is touched before its
  ``created_at``.

Everything is a pure function of the seed: the same seed gives the same events with the
same ids (``demo-0``, ``demo-1``, ...), so seeding an engine twice appends nothing new.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np

from pulserec.demo.catalog import COMMENTS, QUERIES, RELATED, _subtopic, topic_of
from pulserec.types import Event, Item

DEFAULT_START_TS = 1_767_225_600.0
"""2026-01-01T00:00:00Z: where the default history begins."""

DAY_S = 86_400.0

LANG_PREFS: dict[str, float] = {"en": 0.9, "zh": 0.12, "both": 0.5}
"""Language preference -> probability that an item in English is preferred."""

_LANG_MIX: tuple[tuple[str, float], ...] = (("en", 0.55), ("zh", 0.25), ("both", 0.20))


# --------------------------------------------------------------------------------- users
@dataclass(frozen=True, slots=True)
class DemoUser:
    """A synthetic user's tastes.

    Attributes
    ----------
    user_id : str
        ``demo-user-001``, ``demo-user-002``, ...
    topics : dict of str to float
        One to three favourite topics and their weights (summing to 1), strongest first.
    lang : str
        ``"en"``, ``"zh"`` or ``"both"``: which language the user reads and writes.
    n_sessions : int
        How many sessions the user has over the history window.
    """

    user_id: str
    topics: dict[str, float]
    lang: str
    n_sessions: int


def make_users(topics: Sequence[str], n_users: int = 200, seed: int = 2026) -> list[DemoUser]:
    """Draw ``n_users`` users' favourite topics, languages and activity levels.

    Topics are not equally popular: a seeded Zipf-like weight over ``topics`` decides how
    likely each is to be someone's favourite.

    Parameters
    ----------
    topics : sequence of str
        The topics to choose from (at least one).
    n_users : int
        How many users.
    seed : int
        Seed; the same seed gives the same users.

    Returns
    -------
    list of DemoUser
    """
    topics = sorted(set(topics))  # the users do not depend on the order topics come in
    if not topics:
        raise ValueError("topics: expected at least one topic")
    if n_users < 0:
        raise ValueError(f"n_users: expected a non-negative number, got {n_users}")
    rng = np.random.default_rng([seed, 0])
    rank = rng.permutation(len(topics))
    topic_w = 1.0 / (rank + 1.0) ** 0.6
    topic_w /= topic_w.sum()
    langs = [name for name, _ in _LANG_MIX]
    lang_p = np.array([p for _, p in _LANG_MIX])
    users = []
    for u in range(n_users):
        r = np.random.default_rng([seed, 1, u])
        n_fav = min(len(topics), int(r.choice([1, 2, 3], p=[0.3, 0.45, 0.25])))
        fav = r.choice(len(topics), size=n_fav, replace=False, p=topic_w)
        weights = np.sort(r.dirichlet(np.full(n_fav, 2.0)))[::-1]
        lang = langs[int(r.choice(len(langs), p=lang_p))]
        n_sessions = int(np.clip(round(r.lognormal(math.log(6.0), 0.5)), 3, 24))
        users.append(
            DemoUser(
                f"demo-user-{u + 1:03d}",
                {topics[int(t)]: round(float(w), 4) for t, w in zip(fav, weights, strict=True)},
                lang,
                n_sessions,
            )
        )
    return users


# ------------------------------------------------------------------------------- history
class _Topic:
    """Items of one topic with their popularity, language, subtopic and creation time."""

    def __init__(self, idx: list[int], items: Sequence[Item], rng: np.random.Generator) -> None:
        self.idx = np.asarray(idx, dtype=np.int64)
        rank = rng.permutation(len(idx))  # which items are the hits is part of the seed
        self.appeal = 1.0 / (rank + 1.0)  # Zipf: the k-th hit is k times rarer
        self.english = np.array([items[i].attributes.get("lang") != "zh" for i in idx])
        self.sub = np.array([_subtopic(items[i]) or "" for i in idx])
        self.created = np.array(
            [items[i].created_at if items[i].created_at is not None else -np.inf for i in idx]
        )


_Row: TypeAlias = tuple[float, str, str | None, str, float | None, str | None]
"""(timestamp, user_id, item_id, type, value, text) of an event still to be built."""


@dataclass
class _Walker:
    """Mutable bookkeeping of one user's history while it is generated."""

    user: DemoUser
    rng: np.random.Generator
    t: float
    out: list[_Row] = field(default_factory=list)
    bought: set[int] = field(default_factory=set)
    disliked: set[int] = field(default_factory=set)
    seen: set[int] = field(default_factory=set)

    @property
    def p_en(self) -> float:
        return LANG_PREFS[self.user.lang]


def _lang_for(user: DemoUser, rng: np.random.Generator, item_lang: str | None = None) -> str:
    if user.lang != "both":
        return user.lang
    if item_lang in ("en", "zh"):
        return item_lang
    return "en" if rng.random() < 0.5 else "zh"


def _pick_topic(weights: dict[str, float], rng: np.random.Generator) -> str:
    names = list(weights)
    p = np.array([weights[n] for n in names], dtype=np.float64)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _drift(current: str, s: _Walker, all_topics: list[str]) -> str:
    """The topic a session wanders to: another favourite, or a related topic."""
    others = {t: w for t, w in s.user.topics.items() if t != current}
    if others and s.rng.random() < 0.6:
        return _pick_topic(others, s.rng)
    related = [t for t in RELATED.get(current, ()) if t in all_topics]
    pool = related or [t for t in all_topics if t != current] or [current]
    return pool[int(s.rng.integers(len(pool)))]


def _explore(favourite: str, s: _Walker, all_topics: list[str]) -> str:
    """A topic the user does not favour, preferably one related to ``favourite``."""
    pool = [t for t in RELATED.get(favourite, ()) if t in all_topics and t not in s.user.topics]
    pool = pool or [t for t in all_topics if t not in s.user.topics] or [favourite]
    return pool[int(s.rng.integers(len(pool)))]


def _pick_item(topic: _Topic, s: _Walker, taken: set[int], prev_sub: str | None) -> int | None:
    ok = topic.created <= s.t
    idx_list = topic.idx.tolist()
    ok &= np.array([i not in taken and i not in s.disliked for i in idx_list])
    w = topic.appeal * np.where(topic.english, s.p_en, 1.0 - s.p_en) * ok
    # revisits happen, but fresh items are likelier; bought items rarely come back
    w *= np.array([0.1 if i in s.bought else 0.3 if i in s.seen else 1.0 for i in idx_list])
    if prev_sub is not None and s.rng.random() < 0.5:
        same = w * (topic.sub == prev_sub)
        if same.sum() > 0:
            w = same
    total = w.sum()
    if total <= 0:
        return None
    return int(topic.idx[int(s.rng.choice(len(w), p=w / total))])


def _emit(
    s: _Walker,
    gap: float,
    item_id: str | None,
    kind: str,
    value: float | None = None,
    text: str | None = None,
) -> None:
    s.t += gap
    s.out.append((round(s.t, 3), s.user.user_id, item_id, kind, value, text))


def _comment(s: _Walker, item: Item, positive: bool) -> None:
    lang = _lang_for(s.user, s.rng, item.attributes.get("lang"))
    product = item.attributes.get("kind") == "product"
    options = COMMENTS[(lang, positive, product)]
    text = options[int(s.rng.integers(len(options)))]
    _emit(s, s.rng.uniform(30, 240), item.item_id, "comment", text=text)


def _search(s: _Walker, topic: str) -> None:
    lang = _lang_for(s.user, s.rng)
    queries = QUERIES.get(topic, {}).get(lang) or QUERIES.get(topic, {}).get("en")
    if queries:
        text = queries[int(s.rng.integers(len(queries)))]
        _emit(s, s.rng.uniform(2, 20), None, "search", text=text)


def _interact(s: _Walker, item: Item, idx: int, favourite: bool) -> None:
    """One item visit: a view, then what the user does with the item."""
    rng = s.rng
    _emit(s, rng.lognormal(math.log(60.0), 0.8), item.item_id, "view")
    if not favourite:
        if rng.random() < 0.2:
            _emit(s, rng.uniform(3, 30), item.item_id, "click")
        elif rng.random() < 0.15:
            s.disliked.add(idx)
            _emit(s, rng.uniform(2, 15), item.item_id, "dislike")
            if rng.random() < 0.1:
                _comment(s, item, positive=False)
        return
    if rng.random() >= 0.6:
        return
    _emit(s, rng.uniform(3, 30), item.item_id, "click")
    if item.attributes.get("kind") == "product":
        if idx in s.bought or rng.random() >= 0.3:
            return
        _emit(s, rng.uniform(20, 180), item.item_id, "cart")
        if rng.random() < 0.55:
            s.bought.add(idx)
            _emit(s, rng.uniform(30, 400), item.item_id, "purchase")
            if rng.random() < 0.3:
                stars = float(rng.choice([3, 4, 5], p=[0.15, 0.35, 0.5]))
                _emit(s, rng.uniform(60, 600), item.item_id, "rate", value=stars)
            if rng.random() < 0.15:
                _comment(s, item, positive=rng.random() < 0.85)
    else:
        if rng.random() < 0.2:
            _emit(s, rng.uniform(20, 300), item.item_id, "like")
        if rng.random() < 0.08:
            _comment(s, item, positive=rng.random() < 0.8)


_HOUR_W = np.array(
    [1, 1, 0.5, 0.3, 0.3, 0.5, 1, 2, 3, 3, 3, 3, 4, 3, 3, 3, 3, 4, 5, 6, 7, 7, 5, 3],
    dtype=np.float64,
)
"""Relative activity per hour of day (UTC): busy at lunch and in the evening."""


def _session_starts(
    user: DemoUser, rng: np.random.Generator, start: float, days: float
) -> list[float]:
    n_days = max(1, int(days))
    day = rng.integers(0, n_days, size=user.n_sessions)
    hour = rng.choice(24, size=user.n_sessions, p=_HOUR_W / _HOUR_W.sum())
    sec = rng.uniform(0, 3600, size=user.n_sessions)
    return sorted((start + day * DAY_S + hour * 3600.0 + sec).tolist())


def generate_history(
    items: Sequence[Item],
    n_users: int = 200,
    seed: int = 2026,
    start_ts: float = DEFAULT_START_TS,
    days: float = 30.0,
) -> list[Event]:
    """A deterministic synthetic interaction history over ``items``.

    Parameters
    ----------
    items : sequence of Item
        The catalog (normally :func:`load_demo_items`); an item's topic is its first
        category, its language ``attributes["lang"]``, its kind ``attributes["kind"]``.
    n_users : int
        How many users (``demo-user-001`` ...); about 80 events each on average.
    seed : int
        Seed; the same arguments give exactly the same events.
    start_ts : float
        Seconds since the epoch where the history begins.
    days : float
        Length of the history window in days.

    Returns
    -------
    list of Event
        In time order, with ids ``demo-0``, ``demo-1``, ... in that order.

    Examples
    --------
    >>> from pulserec.demo.catalog import load_demo_items
    >>> events = generate_history(load_demo_items(), n_users=3, seed=7)
    >>> events[0].event_id, events == generate_history(load_demo_items(), n_users=3, seed=7)
    ('demo-0', True)
    """
    items = list(items)
    by_topic: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        if topic_of(it):
            by_topic.setdefault(topic_of(it), []).append(i)
    if not by_topic:
        raise ValueError("items: expected items with at least one category (their topic)")
    all_topics = list(by_topic)
    topic_rng = np.random.default_rng([seed, 2])
    topics = {t: _Topic(idx, items, topic_rng) for t, idx in by_topic.items()}
    rows: list[_Row] = []
    for u, user in enumerate(make_users(all_topics, n_users, seed)):
        rng = np.random.default_rng([seed, 3, u])
        s = _Walker(user, rng, start_ts)
        for begin in _session_starts(user, rng, start_ts, days):
            s.t = max(begin, s.t + 1800.0)  # sessions never overlap
            current = _pick_topic(user.topics, rng)
            if rng.random() < 0.08:
                current = _explore(current, s, all_topics)
            if rng.random() < 0.25:
                _search(s, current)
            taken: set[int] = set()
            prev_sub: str | None = None
            for _ in range(1 + int(rng.geometric(0.18))):
                if taken and current not in user.topics and rng.random() < 0.4:
                    current = _pick_topic(user.topics, rng)  # back to what they came for
                    prev_sub = None
                elif taken and rng.random() < 0.12:
                    current = _drift(current, s, all_topics)
                    prev_sub = None
                    if rng.random() < 0.3:
                        _search(s, current)
                idx = _pick_item(topics[current], s, taken, prev_sub)
                if idx is None:
                    continue
                taken.add(idx)
                s.seen.add(idx)
                prev_sub = _subtopic(items[idx])
                _interact(s, items[idx], idx, current in user.topics)
        rows.extend(s.out)
    rows.sort(key=lambda r: (r[0], r[1]))  # stable: a user's own order survives ties
    return [
        Event(user_id, item_id, kind, ts, value, text, f"demo-{n}")
        for n, (ts, user_id, item_id, kind, value, text) in enumerate(rows)
    ]
