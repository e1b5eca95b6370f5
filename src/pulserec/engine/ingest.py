"""The engine's ingest and user-state lifecycle: events in, states from the log, users
forgotten, the catalog kept in step with storage.

:class:`IngestMixin` holds what changes what :class:`~pulserec.engine.Engine` knows
between refits:

- items: ``upsert_items`` (stored, embedded and recommendable at once), ``check_items``,
  ``delete_item``, ``is_deleted``; at a server's start ``load_from_storage``, and on
  shared storage ``sync_items`` and ``catch_up`` (what other processes appended, counted
  into trending);
- events: ``ingest`` and ``ingest_many`` (spam flags, the online loop's credits, the
  durable append, then under the engine's lock each event counted into the live item
  signals and folded into its user's state by :class:`~pulserec.engine.fold.Folder`),
  ``bootstrap`` (history appended before a first refit), ``freeze`` (the streaming
  replay's baseline);
- user states: rebuilt from the log on their next read (``_restore``; on a shared log a
  held state reads its tail, ``_log_tail`` and ``_apply_stored``), ``merge_session``,
  ``delete_user`` and ``forget_user``. Forgetting also drops the user from the serving
  models and every saved version, and from a refit running meanwhile (``_forgotten``,
  see :mod:`~pulserec.engine.refit`).

A mixin of ``Engine`` (see :mod:`~pulserec.engine.core` for why): it holds no state of
its own. The attributes annotated on the class are set by ``Engine.__init__``; the names
under ``TYPE_CHECKING`` are defined by core.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pulserec.catalog.catalog import Catalog
from pulserec.engine.config import EngineConfig
from pulserec.engine.fold import Folder
from pulserec.engine.insight import Insight
from pulserec.engine.items import LiveItems
from pulserec.engine.listcache import ListCache
from pulserec.engine.modelset import ModelSet, saved_versions, scrub_user
from pulserec.engine.placing import Placer
from pulserec.engine.sequential import SequentialScorer
from pulserec.engine.sources.factor import FactorCache
from pulserec.online.loop import OnlineLoop
from pulserec.state.base import UserState
from pulserec.state.memory import MemoryStateStore
from pulserec.storage.artifacts import prune_artifacts
from pulserec.storage.base import Storage, StorageUnavailable, StoredEvent
from pulserec.text.base import TextEncoder
from pulserec.text.spam import SpamGate
from pulserec.types import Event, Item, session_user


class IngestMixin:
    """The ingest and user-state lifecycle of :class:`~pulserec.engine.Engine`."""

    storage: Storage
    encoder: TextEncoder | None
    config: EngineConfig
    artifacts_dir: Path | None
    spam: SpamGate | None
    online: OnlineLoop | None
    shared: bool
    items: LiveItems
    folder: Folder
    sequential: SequentialScorer
    factor_cache: FactorCache
    list_cache: ListCache
    insight: Insight
    placer: Placer
    states: MemoryStateStore
    models: ModelSet | None
    last_seq: int
    events_ingested: int
    freeze_seq: int | None
    _log_seq: int
    _lock: threading.RLock
    _artifacts_lock: threading.Lock
    _forgotten: set[str] | None

    if TYPE_CHECKING:

        @property
        def catalog(self) -> Catalog: ...

    # ------------------------------------------------------------------ items
    def upsert_items(self, items: Sequence[Item]) -> np.ndarray:
        """Add or replace items; their text is embedded and they are recommendable at once."""
        items = list(items)
        self.storage.upsert_items(items)
        return self._index_items(items)

    def check_items(self, items: Sequence[Item]) -> list[tuple[int, str, str]]:
        """``(position, field, message)`` for each attribute of ``items`` that cannot be
        typed or whose type differs from the property's in the catalog (see
        :mod:`pulserec.control.properties`); empty when all may be upserted."""
        with self._lock:
            return self.items.properties.conflicts(items)

    def _index_items(self, items: list[Item]) -> np.ndarray:
        with self._lock:
            idx, waiting = self.items.upsert(items)
            self.list_cache.clear()  # a changed item may move any list
            for user_id in waiting:  # these users' events now move interests: rebuild them
                self.states.delete(user_id)
                self.insight.forget(user_id)
        return idx

    def delete_item(self, item_id: str) -> bool:
        """Stop recommending an item (its events stay in the log)."""
        existed = self.storage.delete_item(item_id)
        with self._lock:
            self.list_cache.clear()
            return self.items.delete(item_id) or existed

    def is_deleted(self, item_id: str) -> bool:
        """True for an item that was deleted (and not upserted again) or never known."""
        return self.items.is_deleted(item_id)

    def load_from_storage(self) -> None:
        """Rebuild the catalog and counters from durable storage (server start)."""
        self._index_items(list(self.storage.items()))
        with self._lock:
            self.placer.load()
        self._count_log()

    def _count_log(self) -> None:
        """Count the whole log into the live item signals (server start).

        The whole log, not a recent part of it: the click-through and interaction counts
        never decay, and the sessions are the latest ``max_sessions`` in log order, which
        a late event (stamped long ago) joins whatever its time; see docs/deploy.md.
        """
        stored_events = iter(self.storage.events())
        while chunk := list(islice(stored_events, 1000)):
            self.items.count_log(chunk)
            self._log_seq = chunk[-1].seq
        self.last_seq = max(self.last_seq, self._log_seq)

    def sync_items(self) -> int:
        """Index the stored items this process does not know yet (shared storage).

        Items are added in the storage's order, so every process numbers them alike.
        Returns how many were added.
        """
        new = [it for it in self.storage.items() if it.item_id not in self.catalog]
        if new:
            self._index_items(new)
        return len(new)

    def catch_up(self) -> int:
        """Count what other processes appended to a shared log into trending.

        A no-op for a log this process alone writes. Returns the events read.
        """
        if not self.shared:
            return 0
        with self._lock:
            n, unknown = 0, False
            tail = list(self.storage.events(after_seq=self._log_seq))
            self.items.note_shown(s.event for s in tail)
            for stored in tail:
                item_id = stored.event.item_id
                if item_id is not None and item_id not in self.catalog:
                    unknown = True
                self.items.count(stored.event, spam=stored.spam)
                self._log_seq = stored.seq
                self.last_seq = max(self.last_seq, stored.seq)
                n += 1
            if unknown:  # an item another process added: learn it before serving it
                self.sync_items()
            return n

    # ----------------------------------------------------------------- ingest
    def ingest(self, event: Event, *, durable: bool = True, spam: bool | None = None) -> bool:
        """Record one event and apply it to the user's state; O(dim), no refit.

        Returns False when the event's ``event_id`` was already recorded (a retry).
        """
        flags = None if spam is None else [spam]
        return self.ingest_many([event], durable=durable, spam=flags)[0]

    def ingest_many(
        self, events: Sequence[Event], *, durable: bool = True, spam: Sequence[bool] | None = None
    ) -> list[bool]:
        """Record events (one durable transaction) and apply each to its user's state."""
        flags = list(spam) if spam is not None else self.spam_flags(events)
        seqs: list[int | None]
        # clicks are credited to served lists first: the log's durable commit below then
        # makes the credits durable too, before the caller answers (see OnlineLoop.prepare)
        credits = self.online.prepare(events) if self.online is not None else None
        if durable:
            try:
                seqs = self.storage.append(events, flags)
            except BaseException:
                if self.online is not None and credits is not None:
                    self.online.discard(credits)
                raise
            accepted = [s is not None for s in seqs]
            self.last_seq = max([self.last_seq, *(s for s in seqs if s is not None)])
        else:
            seqs, accepted = [None] * len(events), [True] * len(events)
        if self.online is not None and credits is not None:
            self.online.settle(credits, accepted)
        if durable and self.shared:
            return self._ingest_shared(events, accepted)
        with self._lock:
            self.items.note_shown(e for e, ok in zip(events, accepted, strict=True) if ok)
            restored: set[str] = set()  # users rebuilt from a log that already holds this batch
            window = self.config.live_covisit_window
            for event, ok, flag, seq in zip(events, accepted, flags, seqs, strict=True):
                if not ok:
                    continue
                self.events_ingested += 1
                if event.user_id in restored:
                    self.items.count(event, spam=flag)
                    continue
                state = self.states.peek(event.user_id)
                if state is None:
                    state = self.states.get(event.user_id) if durable else None
                    if state is not None:
                        restored.add(event.user_id)
                        self.items.count(event, spam=flag)
                        continue
                    state = self.states.get_or_create(event.user_id)
                previous = state.recent_items(window) if window else None
                self.items.count(event, previous, spam=flag, models=self.models)
                realtime = self.freeze_seq is None and self._realtime(event.user_id, seq)
                self.folder.fold(state, event, flag, self.models, realtime=realtime)
        return accepted

    def _ingest_shared(self, events: Sequence[Event], accepted: list[bool]) -> list[bool]:
        """After a shared append: catch held states up with the log (this batch included).

        A state not held is rebuilt on its next read, and trending is counted from the
        log tail on the next recommendation (:meth:`catch_up`), so ingest costs one range
        read at most. The events are acknowledged already: should the store vanish right
        now, the held states are dropped and rebuilt from the log on their next read.
        """
        users = list(dict.fromkeys(e.user_id for e, ok in zip(events, accepted, strict=True) if ok))
        with self._lock:
            self.events_ingested += sum(accepted)
            held = [u for u in users if self.states.peek(u) is not None]
            try:
                for user_id in held:
                    self.states.get(user_id)
            except StorageUnavailable:
                for user_id in held:
                    self.states.delete(user_id)
        return accepted

    def spam_flags(self, events: Sequence[Event]) -> list[bool]:
        """Which comments the spam filter flags (kept in the log, moving no interests)."""
        return self.spam.flags(events) if self.spam is not None else [False] * len(events)

    def bootstrap(self, events: Sequence[Event]) -> None:
        """Append historical events to the log without touching any state (before training)."""
        seqs = self.storage.append(events)
        self.last_seq = max([self.last_seq, *(s for s in seqs if s is not None)])
        with self._lock:
            self.items.note_shown(events)
            for event in events:
                self.items.count(event)

    def freeze(self) -> None:
        """Stop interests from moving: later events only mark items as seen.

        The baseline of the streaming replay: state frozen at the cut-off.
        """
        last = 0
        for stored in self.storage.events():
            last = stored.seq
        self.freeze_seq = last
        self.items.live.pairs_frozen = True  # item-side learning between refits stops too
        self.states.clear()
        self.sequential.serve(self.models)

    def _restore(self, user_id: str) -> UserState | None:
        """Rebuild a user's state from the durable log (after eviction, restart or refit)."""
        stored = list(self.storage.events(user_id=user_id))
        if not stored:
            return None
        state = UserState(user_id, self.config.state)
        for s in stored:
            self._apply_stored(state, s)
        return state

    def _log_tail(self, user_id: str, after_seq: int) -> Iterable[StoredEvent] | None:
        """A user's events after ``after_seq`` in a shared log; None once deleted meanwhile."""
        tail = getattr(self.storage, "tail", None)
        if tail is None:
            return self.storage.events(user_id=user_id, after_seq=after_seq)
        found: list[StoredEvent] | None = tail(user_id, after_seq)
        if found is None:
            self.insight.forget(user_id)
        return found

    def _apply_stored(self, state: UserState, stored: StoredEvent) -> None:
        """Fold one logged event into a state and remember its sequence number."""
        frozen = self.freeze_seq
        realtime = frozen is None or stored.seq <= frozen
        realtime = realtime and self._realtime(state.user_id, stored.seq)
        self.folder.fold(state, stored.event, stored.spam, self.models, realtime=realtime)
        state.seq = stored.seq

    def _realtime(self, user_id: str, seq: int | None) -> bool:
        """False for an event an experiment variant keeps from moving interests."""
        return self.online is None or self.online.realtime(user_id, seq)

    def delete_user(self, user_id: str) -> int:
        """Forget a user everywhere: their events leave the log, then :meth:`forget_user`.

        Once this returns no read can tell the user existed: their recommendations are
        those of a user never seen. Returns how many events were deleted.
        """
        # what the user wrote may sit in the embedding cache: it leaves with them
        comments, queries = set(), set()
        for stored in self.storage.user_history(user_id):  # archived events included
            event = stored.event
            if event.text and event.type == "comment":
                comments.add(event.text)
            elif event.text and event.type == "search":
                queries.add(event.text)
        removed = self.storage.delete_user(user_id)
        if self.online is not None:
            self.online.forget_user(user_id)  # the lists served to them and their clicks
        forget_texts = getattr(self.encoder, "forget", None)
        if forget_texts is not None:
            forget_texts(sorted(comments), kind="passage")
            forget_texts(sorted(queries), kind="query")
        self.forget_user(user_id)
        return removed

    def merge_session(self, session_id: str, user_id: str) -> int:
        """Fold an anonymous session's history into a user (a login): its events move
        to the user in the log (their order and times kept, after the user's own) and
        both states are rebuilt on their next read. Returns how many events moved."""
        session = session_user(session_id)
        stored = self.storage.user_history(session)  # archived events move too
        if not stored or session == user_id:
            return 0
        moved = [replace(s.event, user_id=user_id, event_id=None) for s in stored]
        self.storage.append(moved, [s.spam for s in stored])
        self.storage.delete_user(session)
        with self._lock:
            for who in (session, user_id):
                self.states.delete(who)
                self.insight.forget(who)
                self.sequential.forget(who)
                self.factor_cache.forget(who)
                self.list_cache.forget(who)
            self.items.forget_user(session)
            self.placer.shown.forget(session)
        return len(moved)

    def forget_user(self, user_id: str) -> None:
        """Drop a user from everything this process holds and from every saved version.

        State, cached scores and interests, the serving models' factor row and id, and
        the same in each artifact version on disk. A refit running meanwhile drops the
        user before it saves or serves. Aggregates the user took part in (trending,
        co-visitation, item factors, the transformer's weights) keep no id and are
        refitted without them at the next refit. The event log is the caller's.
        """
        with self._artifacts_lock:
            with self._lock:
                self.states.delete(user_id)
                self.insight.forget(user_id)
                self.sequential.forget(user_id)
                self.factor_cache.forget(user_id)
                self.list_cache.forget(user_id)
                self.items.forget_user(user_id)
                self.placer.shown.forget(user_id)
                if self._forgotten is not None:
                    self._forgotten.add(user_id)
                models = self.models
                if models is not None and user_id in models.users:
                    self.models = models.without_user(user_id)
            if self.artifacts_dir is not None:
                for version in saved_versions(self.artifacts_dir):
                    scrub_user(version, user_id)
                prune_artifacts(self.artifacts_dir, self.config.artifacts_keep)
