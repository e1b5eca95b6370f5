"""The live catalog: items, their text vectors and index, deletions, interaction counts.

Item indices only grow: a deleted item keeps its index (and its events) and is left out
of every list; upserting it again brings it back. Every array here is indexed by the
catalog's item index and grows with it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence

import numpy as np

from pulserec.catalog.catalog import Catalog
from pulserec.control import Expressions, Properties
from pulserec.engine.arrays import extended
from pulserec.engine.config import EngineConfig
from pulserec.engine.groups import Groups
from pulserec.engine.live import LiveSignals
from pulserec.engine.modelset import ModelSet
from pulserec.engine.texttopics import KEY as TOPIC_KEY
from pulserec.engine.texttopics import TextTopics
from pulserec.engine.trending import Trending
from pulserec.index.approximate import ApproximateIndex
from pulserec.index.ivf import IVFIndex
from pulserec.online.attribution import list_key
from pulserec.state.pending import PendingItems
from pulserec.storage.base import StoredEvent
from pulserec.text.base import TextEncoder
from pulserec.types import NEGATIVE_TYPES, Event, Item


class LiveItems:
    """What the engine knows about items between refits, updated per upsert and event.

    Not thread-safe on its own: the engine calls it under its lock.
    """

    def __init__(self, encoder: TextEncoder | None, config: EngineConfig) -> None:
        self.encoder = encoder
        self.exact_threshold = config.exact_threshold
        self.catalog = Catalog()
        self.live = live_signals(config)
        self.shown_keys: OrderedDict[tuple[str, float], None] = OrderedDict()
        self.text = np.zeros((0, encoder.dim if encoder is not None else 0), dtype=np.float32)
        """Each item's text embedding (zero rows: no text); grows ahead of the catalog."""
        self.category_groups = Groups()
        """Each item's group as a code, and the items of each code: its first category,
        else its text topic (:mod:`~pulserec.engine.texttopics`), else -1."""
        self.category_codes: dict[str, int] = {}
        """Category (and text topic key) -> code."""
        self.categorised = np.zeros(0, dtype=bool)
        """Whether each item has a category of the catalog's."""
        self._by_time: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        """Per group code, its items with a publication time and the times, oldest first
        (:meth:`published_members`); dropped whenever items or groups change."""
        self.text_topics: TextTopics | None = None
        """The text topics the items without a category join (fitted at each refit)."""
        self.has_text = np.zeros(0, dtype=bool)
        """Whether each item's text embedding is not zero."""
        self.text_index: ApproximateIndex | None = None
        self.text_version = 0
        """Counts the upserts that brought text (readers of ``text`` resync on a change)."""
        self.interactions = np.zeros(0, dtype=np.int64)
        """Positive events counted per item since this process started (log included)."""
        self.deleted: set[int] = set()
        self.properties = Properties()
        """Every item property as a column, for filter and boost expressions."""
        self.expressions = Expressions(self.properties)
        self.pending = PendingItems(config.max_pending)
        """Item ids not in the catalog yet -> users whose events named them (bounded)."""

    def __len__(self) -> int:
        return len(self.catalog)

    def upsert(self, items: Sequence[Item]) -> tuple[np.ndarray, set[str]]:
        """Add or replace items, embedding their text; they are recommendable at once.

        Returns their indices and the users whose earlier events named one of them
        (their states must be rebuilt for those events to count).
        """
        items = list(items)
        idx = self.catalog.upsert(items)
        self.deleted.difference_update(idx.tolist())  # re-upserting brings an item back
        self.grow()
        self.properties.set(idx, items)
        if self.encoder is not None and items:
            vecs = self.encoder.encode([item_text(it) for it in items], kind="passage")
            self.text[idx] = vecs
            if self.text_index is None:
                self.text_index = IVFIndex(self.encoder.dim, exact_threshold=self.exact_threshold)
            has_text = np.linalg.norm(vecs, axis=1) > 0
            self.has_text[idx] = has_text
            if has_text.any():
                self.text_index.add(idx[has_text], vecs[has_text])
                self.text_version += 1
        codes = self.category_codes
        group = np.array(
            [codes.setdefault(it.categories[0], len(codes)) if it.categories else -1
             for it in items],
            dtype=np.int64,
        )  # fmt: skip
        self.categorised[idx] = group >= 0
        topical = (group < 0) & self.has_text[idx]
        if self.text_topics is not None and topical.any():
            group[topical] = self._topic_codes(self.text_topics.assign(self.text[idx[topical]]))
        self.category_groups.assign(idx, group)
        self._by_time.clear()
        return idx, self.pending.pop(it.item_id for it in items)

    def set_text_topics(
        self, topics: TextTopics | None, idx: np.ndarray, assigned: np.ndarray
    ) -> None:
        """Serve ``topics`` from now on: items ``idx`` (without a category, with text when
        the topics were fitted) join topics ``assigned``, any other item without a
        category its nearest topic (an item upserted since), or none without topics."""
        n = len(self.catalog)
        self.text_topics = topics
        group = np.full(n, -1, dtype=np.int64)
        if topics is not None and len(topics):
            group[idx] = self._topic_codes(assigned)
            rest = np.ones(n, dtype=bool)
            rest[idx] = False
            rest &= self.has_text[:n]
            if rest.any():
                group[rest] = self._topic_codes(topics.assign(self.text[np.flatnonzero(rest)]))
            group[~self.has_text[:n]] = -1  # its text gone since the fit read it
        plain = np.flatnonzero(~self.categorised[:n])
        self.category_groups.assign(plain, group[plain])
        self._by_time.clear()

    def _topic_codes(self, topics: np.ndarray) -> np.ndarray:
        """The codes of text topics ``topics`` (a code is made on a topic's first use)."""
        codes = self.category_codes
        table = np.array(
            [codes.setdefault(TOPIC_KEY.format(j), len(codes))
             for j in range(int(topics.max(initial=-1)) + 1)],
            dtype=np.int64,
        )  # fmt: skip
        found: np.ndarray = table[topics]
        return found

    @property
    def category(self) -> np.ndarray:
        """Each item's group as a code (its first category, else its text topic; -1: none),
        for the category signals."""
        return self.category_groups.codes

    def category_members(self, code: int, below: int | None = None) -> np.ndarray:
        """The indices of the items whose group has ``code`` (ascending, deleted
        items included: the ranking leaves them out), read-only; only those under
        ``below`` where given (a request ranking the first items of the catalog).

        The grouping is kept up to date per upsert (:class:`~pulserec.engine.groups.Groups`),
        so a request reads a category without regrouping the catalog."""
        members = self.category_groups.members(code)
        if below is not None and len(members) and members[-1] >= below:  # ascending
            members = members[members < below]
        return members

    def published(self, items: np.ndarray) -> np.ndarray:
        """Each of ``items``' publication time, its ``created_at`` (seconds since the
        epoch; NaN: unknown)."""
        values: np.ndarray = self.properties.column("created_at").values
        out = np.full(len(items), np.nan)
        inside = items < len(values)
        out[inside] = values[items[inside]]
        return out

    def published_members(self, code: int) -> tuple[np.ndarray, np.ndarray]:
        """The items of the group ``code`` that have a publication time (``created_at``)
        and those times, oldest first (of equal times, the item listed first comes last;
        deleted items included: the ranking leaves them out). Kept until the next upsert
        or regrouping, so a request reads a sorted list."""
        found = self._by_time.get(code)
        if found is None:
            members = self.category_members(code)
            times = self.published(members)
            known = ~np.isnan(times)
            members, times = members[known], times[known]
            order = np.lexsort((-members, times))  # of equal times, the first listed last
            found = self._by_time[code] = (members[order], times[order])
        return found

    @property
    def text_rows(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The text vectors and which items have text; None without an encoder."""
        return None if self.encoder is None else (self.text, self.has_text)

    def grow(self) -> None:
        """Size the per-item arrays for the catalog (after it gained items)."""
        n = len(self.catalog)
        self.properties.grow(n)
        if self.text.shape[0] < n:
            grown = np.zeros((max(n, 2 * self.text.shape[0]), self.text.shape[1]), np.float32)
            grown[: self.text.shape[0]] = self.text
            self.text = grown
        if len(self.has_text) < self.text.shape[0]:
            self.has_text = np.r_[
                self.has_text, np.zeros(self.text.shape[0] - len(self.has_text), bool)
            ]
        self.category_groups.resize(n)
        self.categorised = extended(self.categorised, n)
        if len(self.interactions) < n:
            self.interactions = np.r_[
                self.interactions, np.zeros(n - len(self.interactions), np.int64)
            ]

    def ensure(self, item_ids: Sequence[str]) -> np.ndarray:
        """Indices of ``item_ids``, adding id-only items for those not in the catalog."""
        before = len(self.catalog)
        idx = self.catalog.ensure(item_ids)
        self.grow()
        added = np.arange(before, len(self.catalog))
        if len(added):  # id-only items have an id (and no other property)
            self.properties.set(added, [self.catalog.at(int(j)) for j in added])
            self.category_groups.assign(added, np.full(len(added), -1))
        return idx

    def delete(self, item_id: str) -> bool:
        """Leave an item out of every list from now on; False when it was never known."""
        if item_id not in self.catalog:
            return False
        idx = self.catalog.idx(item_id)
        self.deleted.add(idx)
        if self.text_index is not None:
            self.text_index.remove(np.array([idx]))
        return True

    def is_deleted(self, item_id: str) -> bool:
        """True for an item that was deleted (and not upserted again) or never known."""
        if item_id not in self.catalog:
            return True
        return self.catalog.idx(item_id) in self.deleted

    def deleted_array(self) -> np.ndarray:
        """The deleted items' indices, sorted."""
        return np.asarray(sorted(self.deleted), dtype=np.int64)

    @property
    def trending(self) -> Trending:
        """The live trending counts (slow scale)."""
        return self.live.trending

    def count(
        self,
        event: Event,
        previous: list[int] | None = None,
        *,
        spam: bool = False,
        models: ModelSet | None = None,
    ) -> None:
        """Count a positive event on a known item into the live signals and interactions;
        ``previous`` are the user's items before it, newest first, when known. A flagged
        event counts towards trending only; an impression (shown, not taken) counts as a
        show of the item; ``models`` are those a fresh item's vector is folded against."""
        idx = self._count(event, previous, spam=spam, models=models)
        if idx is not None:
            self.live.trend(idx, event.timestamp)

    def count_log(self, chunk: Sequence[StoredEvent]) -> None:
        """Count a chunk of the log, read at start, as :meth:`count` counts each of its
        events with no previous items and no models, in the same order, but trending in
        one batch: a decayed sum does not depend on the order of its terms (equal up to
        rounding), and per event it cost more than the whole read."""
        self.note_shown(s.event for s in chunk)
        counted: list[int] = []
        times: list[float] = []
        for stored in chunk:
            idx = self._count(stored.event, spam=stored.spam)
            if idx is not None:
                counted.append(idx)
                times.append(stored.event.timestamp)
        if counted:
            self.live.trend_many(np.asarray(counted, np.int64), np.asarray(times, np.float64))

    def _count(
        self,
        event: Event,
        previous: list[int] | None = None,
        *,
        spam: bool = False,
        models: ModelSet | None = None,
    ) -> int | None:
        """:meth:`count` but trending; the item's index when the event is a positive one on
        a known item (for the caller to count into trending), else None."""
        if event.item_id is None or event.item_id not in self.catalog:
            return None
        idx = self.catalog.idx(event.item_id)
        if event.type in NEGATIVE_TYPES:
            if event.type == "impression":
                self.note_shown([event])
                self.live.shown(idx)
            return None
        user = None if spam else event.user_id
        listed = list_key(event) in self.shown_keys
        self.live.add_untrended(
            idx, event.timestamp, None if spam else previous, user, listed=listed, models=models
        )
        self.interactions[idx] += 1
        return idx

    def note_shown(self, events: Iterable[Event]) -> None:
        """Remember which (user, time) pairs are logged lists (they have ``impression``
        events), before the batch is counted: a click in such a list is a click of the
        item's click-through rate, whatever its order in the batch. Bounded."""
        for event in events:
            if event.type == "impression":
                self.shown_keys[list_key(event)] = None
                if len(self.shown_keys) > MAX_SHOWN_KEYS:
                    self.shown_keys.popitem(last=False)

    def index_of(self, event: Event) -> int | None:
        """The catalog index of the event's item; an unknown item is noted as pending."""
        if event.item_id is None:
            return None
        if event.item_id in self.catalog:
            return self.catalog.idx(event.item_id)
        self.pending.add(event.item_id, event.user_id)
        return None

    def forget_user(self, user_id: str) -> None:
        """Drop a user from the pending lists (and items only they were waiting for) and
        from the live sessions."""
        self.pending.discard_user(user_id)
        self.live.forget_user(user_id)

    def title(self, idx: int) -> str:
        """An item's title in quotes, for a reason shown to a person."""
        if not 0 <= idx < len(self.catalog):
            return "an item"
        item = self.catalog.at(idx)
        return f"“{item.title}”" if item.title else f"item {item.item_id}"


MAX_SHOWN_KEYS = 100_000
"""Latest logged lists remembered to tell their clicks from clicks made elsewhere."""


def live_signals(config: EngineConfig) -> LiveSignals:
    """Empty live signals with the configured time scales."""
    return LiveSignals(
        config.trending_half_life_s,
        config.trending_fast_half_life_s,
        config.live_covisit_half_life_s,
        popular_half_life_s=config.popular_half_life_s,
        now_half_life_s=config.trending_now_half_life_s,
        session_gap_s=config.session_gap_s,
        max_sessions=config.max_sessions,
        als_alpha=config.als_alpha,
        als_regularization=config.als_regularization,
    )


def item_text(item: Item, category_sep: str = " ") -> str:
    """The text an item is embedded by: title, description and categories, once each;
    nothing for an item with neither title nor description (a category alone is a label,
    not text to read). ``category_sep=", "`` keeps each category its own phrase (for
    keyphrases: "tea, teaware", not the noun phrase "tea teaware")."""
    parts = [item.title, item.text]
    if not any(parts):
        return ""
    if item.categories:
        parts.append(category_sep.join(item.categories))
    seen: list[str] = []
    for p in parts:
        if p and p not in seen and not any(p in s for s in seen):
            seen.append(p)
    return ". ".join(seen)
