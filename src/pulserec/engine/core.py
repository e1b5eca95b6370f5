"""The engine: ingest events, keep each user's state current, recommend.

:class:`Engine` wires the parts together and owns what they share: the durable storage,
the user states, the serving models and the one lock that keeps them consistent. The
parts each own their own state and know nothing of the engine:

- :class:`~pulserec.engine.items.LiveItems`: the catalog, text vectors, live counts;
- :class:`~pulserec.engine.fold.Folder`: one event into one user's state;
- :class:`~pulserec.engine.rank.Ranker`: candidate sources, features, blend, reasons;
- :class:`~pulserec.engine.sequential.SequentialScorer`: the transformer at request time;
- :class:`~pulserec.engine.insight.Insight`: topics and interests in words;
- :class:`~pulserec.engine.training.Fitter` and ``Trainer``: refits, in the background.

Models are fitted beside the loop and swapped in atomically; ingest and recommend keep
working during a refit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from pulserec.control.placements import Placement
from pulserec.engine.config import EngineConfig
from pulserec.engine.explain import Explainer
from pulserec.engine.explore import explore, novelty
from pulserec.engine.features import BLEND_NAMES, NAMES
from pulserec.engine.fold import Folder, Sentiment
from pulserec.engine.insight import Insight, Interests
from pulserec.engine.items import LiveItems, item_text
from pulserec.engine.lookup import search, similar
from pulserec.engine.modelset import (
    ModelSet,
    read_current,
    saved_versions,
    scrub_user,
    write_current,
)
from pulserec.engine.placing import Placer
from pulserec.engine.rank import Ranker
from pulserec.engine.sequential import SequentialScorer
from pulserec.engine.sources import SOURCES, check_sources
from pulserec.engine.training import Fitter, Trainer, events_frame
from pulserec.online.experiments import Experiment, Overrides
from pulserec.online.loop import OnlineLoop
from pulserec.state.base import UserState
from pulserec.state.memory import MemoryStateStore
from pulserec.state.pending import PendingItems
from pulserec.state.shared import LogTailStateStore
from pulserec.storage.artifacts import prune_artifacts
from pulserec.storage.base import Storage, StorageUnavailable, StoredEvent
from pulserec.storage.memory import MemoryStorage
from pulserec.text.base import TextEncoder
from pulserec.text.spam import SpamFilter, SpamGate
from pulserec.types import Event, Item, Recommendation, Scored, ValidationError, session_user


class Engine:
    """Ingests events and serves recommendations from one consistent state.

    Parameters
    ----------
    storage : Storage, optional
        Durable event log and item table (default: in memory).
    encoder : TextEncoder, optional
        Embeds item text and queries; without one the text source is off.
    config : EngineConfig, optional
    artifacts_dir : Path, optional
        Where each refit's models are saved (and loaded from at start).
    sentiment : optional
        P(positive) of a comment's text; signs how a comment moves interests.
    spam_filter : SpamFilter, optional
        Flags comments that are kept in the log but move nothing.
    online : OnlineLoop, optional
        Logs every served list, attributes events to lists and runs experiments; without
        one lists carry no ``recommendation_id`` and no experiment applies.
    """

    def __init__(
        self,
        storage: Storage | None = None,
        encoder: TextEncoder | None = None,
        config: EngineConfig | None = None,
        artifacts_dir: Path | None = None,
        *,
        sentiment: Sentiment | None = None,
        spam_filter: SpamFilter | None = None,
        online: OnlineLoop | None = None,
    ) -> None:
        # Serving multiplies tiny matrices; a multi-threaded BLAS only adds
        # contention there (measured: 0.14 ms vs 3.5 ms per item search on two
        # cores), so the engine's process runs BLAS on one thread.
        threadpool_limits(1, user_api="blas")
        _single_thread_faiss()
        self.storage = storage if storage is not None else MemoryStorage()
        self.encoder = encoder
        self.config = config or EngineConfig()
        check_sources(self.config.sources)
        self.artifacts_dir = artifacts_dir
        self.spam = SpamGate(spam_filter) if spam_filter is not None else None
        self.online = online
        self.shared = bool(getattr(self.storage, "shared", False))
        self._lock = threading.RLock()
        self._train_lock = threading.Lock()
        # taken before _lock: saving a version and scrubbing a user from all of them
        self._artifacts_lock = threading.Lock()
        self._forgotten: set[str] | None = None

        cfg = self.config
        self.items = LiveItems(encoder, cfg)
        self.folder = Folder(self.items, cfg.state, encoder, sentiment)
        self.sequential = SequentialScorer(self.items, cfg)
        self.insight = Insight(self.items, cfg.state, cfg.random_state)
        self.ranker = Ranker(
            self.items, cfg, self.sequential, Explainer(self.items, self.insight, cfg.n_recent)
        )
        self.placer = Placer(self.storage, self.ranker)
        self.fitter = Fitter(self.items, cfg, self.folder, self.ranker, self._lock)
        # late-bound, so that what runs is whatever ``train`` is when the refit starts
        self.trainer = Trainer(lambda **kwargs: self.train(**kwargs))

        self.states: MemoryStateStore
        if self.shared:
            # several processes append to this log: read each user's tail before serving
            self.states = LogTailStateStore(
                cfg.state, restore=self._restore, tail=self._log_tail, apply=self._apply_stored
            )
        else:
            self.states = MemoryStateStore(cfg.state, restore=self._restore)
        self._models: ModelSet | None = None
        self._log_seq = 0  # shared log: the newest sequence number counted into trending
        self.last_seq = 0  # the newest sequence number of the log this process has seen
        self.events_ingested = 0
        self.freeze_seq: int | None = None

    @property
    def catalog(self):  # type: ignore[no-untyped-def]
        """The live :class:`~pulserec.catalog.catalog.Catalog`."""
        return self.items.catalog

    @property
    def models(self) -> ModelSet | None:
        """The models serving now."""
        return self._models

    @models.setter
    def models(self, models: ModelSet | None) -> None:
        """Serve from ``models`` without touching user states (:meth:`swap` rebuilds them
        too); the transformer's cached scores belong to the old models and are dropped."""
        self._models = models
        self.sequential.serve(models)

    @property
    def pending(self) -> PendingItems:
        """Users waiting for items not in the catalog yet (bounded; see ``max_pending``)."""
        return self.items.pending

    @property
    def trending(self):  # type: ignore[no-untyped-def]
        """The live :class:`~pulserec.engine.trending.Trending` counts."""
        return self.items.trending

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
            for user_id in waiting:  # these users' events now move interests: rebuild them
                self.states.delete(user_id)
                self.insight.forget(user_id)
        return idx

    def delete_item(self, item_id: str) -> bool:
        """Stop recommending an item (its events stay in the log)."""
        existed = self.storage.delete_item(item_id)
        with self._lock:
            return self.items.delete(item_id) or existed

    def is_deleted(self, item_id: str) -> bool:
        """True for an item that was deleted (and not upserted again) or never known."""
        return self.items.is_deleted(item_id)

    def load_from_storage(self) -> None:
        """Rebuild the catalog and counters from durable storage (server start)."""
        self._index_items(list(self.storage.items()))
        with self._lock:
            self.placer.load()
        stored_events = iter(self.storage.events())
        while chunk := list(islice(stored_events, 1000)):
            self.items.note_shown(s.event for s in chunk)
            for stored in chunk:
                self.items.count(stored.event, spam=stored.spam)
                self._log_seq = stored.seq
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

    # --------------------------------------------------------------- training
    def train(
        self, *, fit_weights_on_valid: bool = True, sequential: bool | None = None
    ) -> ModelSet:
        """Fit every model on the event log and swap the result in atomically.

        ``sequential`` overrides ``config.sequential`` for this run: a server's first
        start fits without the transformer (seconds) and brings it in with a second run.
        """
        with_seq = self.config.sequential if sequential is None else sequential
        with self._train_lock:
            with self._lock:
                self._forgotten = set()  # users deleted while this refit runs
            try:
                previous = self.models
                models = self.fitter.fit(
                    events_frame(self.storage, self.config.train_window_s),
                    fit_weights_on_valid=fit_weights_on_valid,
                    sequential=with_seq,
                    previous=previous,
                )
                # what an operator reads beside the figures: which version they compare
                # with, and how far the catalog grew between the two
                models.previous_version = previous.version if previous else None
                models.metrics["catalog_items"] = float(self.storage.counts()["items"])
                if previous is not None and "catalog_items" in previous.metrics:
                    models.metrics["previous_catalog_items"] = previous.metrics["catalog_items"]
                with self._artifacts_lock:
                    with self._lock:
                        for user_id in self._forgotten:
                            models = models.without_user(user_id)
                        self._forgotten = None
                    # another process (an API process of a shared deployment) may have
                    # deleted users while this one fitted: their events are gone from the log
                    models, _ = self._without_deleted(models)
                    if self.artifacts_dir is not None:
                        saved = models.save(self.artifacts_dir / models.version)
                        # a deletion from now on scrubs every saved version, this one
                        # included; one between the check above and the save, here
                        models, late = self._without_deleted(models)
                        for user_id in late:
                            scrub_user(saved, user_id)
                        write_current(self.artifacts_dir, models.version)
                        prune_artifacts(self.artifacts_dir, self.config.artifacts_keep)
                    self.swap(models)
            finally:
                self._forgotten = None
            self.fit_topics()
            return models

    def _without_deleted(self, models: ModelSet) -> tuple[ModelSet, list[str]]:
        """``models`` without the users that no longer have events in the log, and who."""
        if not self.shared:
            return models, []  # this process made every deletion: _forgotten has them
        present = self.storage.user_ids()
        gone = [u for u in models.users.to_list() if u not in present]
        for user_id in gone:
            models = models.without_user(user_id)
        return models, gone

    @property
    def training(self) -> bool:
        """Whether a refit is running now."""
        return self._train_lock.locked()

    def fit_topics(self, n_topics: int | None = None) -> None:
        """Cluster the catalog by item text and label each topic with its keywords."""
        if self.encoder is None or len(self.catalog) < 4:
            return
        with self._lock:
            n = len(self.catalog)
            vectors = self.items.text[:n].copy()
            texts = [item_text(it) for it in self.catalog]
        self.insight.fit_topics(vectors, texts, n_topics)

    def swap(self, models: ModelSet) -> None:
        """Serve from ``models`` from the next request on."""
        with self._lock:
            self.models = models
            # short-term vectors live in the factor space, which a refit changes:
            # states are rebuilt from the log on their next read
            self.states.clear()
            self.insight.forget()

    def load_latest_models(self) -> ModelSet | None:
        """Swap in the newest saved models of ``artifacts_dir`` (server start)."""
        if self.artifacts_dir is None:
            return None
        version = read_current(self.artifacts_dir)
        if version is None:
            return None
        threshold = self.config.exact_threshold
        models = ModelSet.load(self.artifacts_dir / version, BLEND_NAMES, threshold)
        if models.item_ids:
            # the catalog rebuilt from storage may number items differently from training
            with self._lock:
                positions = self.items.ensure(models.item_ids)
                n = len(self.catalog)
            models = models.aligned_to(positions, n, threshold)
        self.swap(models)
        return models

    # -------------------------------------------------------------- recommend
    def recommend(
        self,
        user_id: str,
        k: int = 10,
        *,
        diversity: float = 0.0,
        category: str | None = None,
        exclude: Iterable[str] = (),
        exclude_seen: bool = True,
        filter: str | None = None,
        boost: str | None = None,
        placement: str | None = None,
        context_item: str | None = None,
        now: float | None = None,
    ) -> Recommendation:
        """Top-``k`` items for a user, each with its score and the reason it was chosen.

        ``filter`` and ``boost`` are expressions over item properties and the user
        (:mod:`pulserec.control`): only items passing the filter are retrieved, and the
        boost adds to each item's score. A bad expression raises
        :class:`~pulserec.types.ValidationError` naming ``filter`` or ``boost`` and the
        position. ``placement`` names where the list is shown: online metrics are kept
        per placement, and a stored :class:`Placement` of that name applies its rules too
        (its filter and boost with the request's; ``k`` and ``diversity`` are the
        caller's: the HTTP route takes the placement's when the request gives none).
        ``context_item``: the item the list is shown beside (a product page's product):
        expressions read it as ``context.*``, and it is left out of the list.

        With an online loop the list is logged (at ``now``, default the clock) and named
        by its ``recommendation_id``, and the user's experiment variant, if any,
        overrides settings for this request.
        """
        if not 0.0 <= diversity <= 1.0:
            raise ValueError(f"diversity: expected a value in [0, 1], got {diversity}")
        variant = self.online.assign(user_id)[1] if self.online is not None else None
        o = variant.overrides if variant is not None else Overrides()
        diversity, sources, factors = o.ranking(diversity, self.config.sources)
        with self._lock:
            self.catch_up()
            models = self.models
            request = self.ranker.request(models, self.states.get(user_id), user_id)
            context = None
            if context_item is not None:
                if self.items.is_deleted(context_item):
                    raise ValidationError("context_item", f"no item {context_item!r}")
                context = self.catalog.idx(context_item)
                exclude = [*exclude, context_item]
            chosen = self.placer.get(placement) if placement is not None else None
            if chosen is None:
                picked, scores, reasons = self.ranker.recommend(
                    request, k, diversity=diversity, category=category, exclude=exclude,
                    exclude_seen=exclude_seen, filter=filter, boost=boost, context=context,
                    sources=sources, weight_factors=factors,
                )  # fmt: skip
            else:
                picked, scores, reasons = self.placer.rank(
                    request, chosen, k, diversity=diversity, category=category,
                    exclude=exclude, exclude_seen=exclude_seen, filter=filter, boost=boost,
                    context=context, weight_factors=factors,
                )  # fmt: skip
            if o.exploration:
                assert self.online is not None
                picked, scores, reasons = explore(
                    self.items, self.online.counts.shown, request.state, user_id,
                    (picked, scores, reasons), o.exploration, salt=self.last_seq,
                )
            ids = self.catalog.id_map.ids(picked)
            if self.placer.tracks_shown:
                self.placer.shown.add(user_id, [str(i) for i in ids], now=time.time())
        items = tuple(
            Scored(str(i), float(s), r) for i, s, r in zip(ids, scores, reasons, strict=True)
        )
        rid, name = self.serve_list(user_id, placement or "recommendations", items, now=now)
        return Recommendation(user_id, items, models.version if models else "untrained", rid, name)

    def serve_list(
        self, user_id: str | None, placement: str, items: Sequence[Scored], *,
        now: float | None = None,
    ) -> tuple[str, str]:  # fmt: skip
        """Log a list about to be answered: its ``recommendation_id`` and the user's
        variant (both empty without an online loop or with list logging off)."""
        if self.online is None:
            return "", ""
        ids = [s.item_id for s in items]
        served = self.online.serve(user_id or "", placement, ids, now=now,
                                   novelty=novelty(self.items, ids))  # fmt: skip
        return served.recommendation_id, served.variant

    # ------------------------------------------------------------- placements
    def put_placement(self, name: str, body: object) -> Placement:
        """Store a placement from its JSON form (see :mod:`pulserec.control.placements`);
        a ValidationError names the field it cannot use."""
        placement = Placement.from_dict(name, body)
        with self._lock:
            self.placer.put(placement)
        return placement

    def placement(self, name: str) -> Placement | None:
        """The stored placement of that name, or None."""
        with self._lock:
            return self.placer.get(name)

    def placements(self) -> list[Placement]:
        """Every stored placement, by name."""
        with self._lock:
            return self.placer.all()

    def delete_placement(self, name: str) -> bool:
        """Remove a placement; False when there was none."""
        with self._lock:
            return self.placer.delete(name)

    def score_items(self, user_id: str, item_ids: Sequence[str]) -> np.ndarray:
        """Hybrid scores of given items for a user (unknown items score ``-inf``)."""
        with self._lock:
            idx = self.catalog.id_map.lookup(item_ids)
            known = idx >= 0
            out = np.full(len(idx), -np.inf)
            if known.any():
                request = self.ranker.request(self.models, self.states.get(user_id), user_id)
                out[known] = self.ranker.score(request, idx[known])
        return out

    def similar(self, item_id: str, k: int = 10) -> list[Scored]:
        """Items like ``item_id``: co-visitation, factor-space and text similarity combined."""
        with self._lock:
            idx = self.catalog.idx(item_id)
            return similar(self.items, self.models, idx, k, self.config.n_candidates)

    def search(self, query: str, k: int = 10, *, user_id: str | None = None) -> list[Scored]:
        """Semantic search over item text, personalised when a known user is given."""
        if not query.strip():
            raise ValueError("q: the query must not be empty")
        if self.encoder is None:
            raise RuntimeError("search needs a text encoder; configure one for the engine")
        if self.items.text_index is None:  # no item with text yet
            return []
        qv = self.encoder.encode([query], kind="query")[0]
        with self._lock:
            state = self.states.get(user_id) if user_id is not None else None
            return search(
                self.ranker, qv, query, k, models=self.models, state=state, user_id=user_id
            )

    # ------------------------------------------------------------ experiments
    def create_experiment(
        self, name: str, variants: Sequence[dict[str, Any]], *, horizon_users: int = 1000,
        salt: str = "", now: float | None = None,
    ) -> Experiment:  # fmt: skip
        """Start an experiment over the events from now on (see :mod:`pulserec.online`)."""
        loop = self._loop()
        return loop.create(name, variants, horizon_users=horizon_users, start_seq=self.last_seq,
                           sources=set(SOURCES), features=set(NAMES), now=now,
                           salt=salt)  # fmt: skip

    def add_variant(self, name: str, variant: dict[str, Any]) -> Experiment:
        """Add a variant to a running experiment, from traffic no variant holds."""
        return self._loop().add_variant(name, variant, sources=set(SOURCES),
                                        features=set(NAMES))  # fmt: skip

    def stop_experiment(self, name: str, *, winner: str | None = None,
                        conclude: bool = False) -> Experiment:  # fmt: skip
        """Stop an experiment (users go back to the configured settings); ``conclude``
        also records the chosen variant."""
        loop = self._loop()
        with self._lock:
            if conclude:
                experiment = loop.conclude(name, winner, stop_seq=self.last_seq)
            else:
                experiment = loop.stop(name, stop_seq=self.last_seq)
            # states of a variant that held interests still: rebuilt with them moving again
            self.states.clear()
        return experiment

    def _loop(self) -> OnlineLoop:
        if self.online is None:
            raise RuntimeError("experiments need the online loop (online.log_lists on)")
        return self.online

    # ------------------------------------------------------------- inspection
    def interests(self, user_id: str) -> Interests | None:
        """What the engine believes the user is into, short and long term, in words
        (see :mod:`pulserec.engine.insight`); None for a user without events."""
        with self._lock:
            state = self.states.get(user_id)
            if state is None:
                return None
            gathered = self.insight.gather(state)
        return self.insight.describe(gathered)


def _single_thread_faiss() -> None:
    """One OpenMP thread for faiss: requests search one query at a time, where waking a
    thread team costs more than it saves (measured 0.15 ms vs 0.31 ms per HNSW search)."""
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss is a dependency
        return
    faiss.omp_set_num_threads(1)
