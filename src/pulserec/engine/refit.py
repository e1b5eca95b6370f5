"""The engine's refits and artifacts: train, swap, load the saved models, topics.

:class:`RefitMixin` holds what changes the models :class:`~pulserec.engine.Engine` serves:
``train`` (the log into a frame, :class:`~pulserec.engine.training.Fitter` fits the
models, the users deleted meanwhile are dropped, the version is saved and pruned and
swapped in), ``swap``, ``load_latest_models`` (server start), ``fit_topics`` (the
insight's labelled topics), ``fit_text_topics`` (the groups of items without a category)
and the ``training`` flag. The fitting itself is :mod:`~pulserec.engine.training`'s; this
module is what a refit does to the running engine around it. A refit runs beside ingest and
requests: it holds the engine's lock only to read or swap, and ``_train_lock`` keeps one
refit at a time.

Deletions and a refit: ``forget_user`` (:mod:`~pulserec.engine.ingest`) adds the user to
``_forgotten`` while a refit runs, and ``train`` drops them, and the users a shared log
no longer holds, before it saves or serves; ``_artifacts_lock`` (taken before the
engine's lock) orders a save against a scrub of every saved version.

A mixin of ``Engine`` (see :mod:`~pulserec.engine.core` for why): it holds no state of
its own. The attributes annotated on the class are set by ``Engine.__init__``; the names
under ``TYPE_CHECKING`` are defined by core.py.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pulserec.catalog.catalog import Catalog
from pulserec.engine.config import EngineConfig
from pulserec.engine.features import BLEND_NAMES
from pulserec.engine.insight import Insight
from pulserec.engine.items import LiveItems, item_text
from pulserec.engine.modelset import ModelSet, read_current, scrub_user, write_current
from pulserec.engine.sources.factor import FactorCache
from pulserec.engine.texttopics import fit_text_topics
from pulserec.engine.training import Fitter, events_frame
from pulserec.state.memory import MemoryStateStore
from pulserec.storage.artifacts import prune_artifacts
from pulserec.storage.base import Storage
from pulserec.text.base import TextEncoder


class RefitMixin:
    """The refits and artifacts of :class:`~pulserec.engine.Engine`."""

    storage: Storage
    encoder: TextEncoder | None
    config: EngineConfig
    artifacts_dir: Path | None
    shared: bool
    items: LiveItems
    states: MemoryStateStore
    insight: Insight
    fitter: Fitter
    factor_cache: FactorCache
    models: ModelSet | None
    _lock: threading.RLock
    _train_lock: threading.Lock
    _artifacts_lock: threading.Lock
    _forgotten: set[str] | None

    if TYPE_CHECKING:

        @property
        def catalog(self) -> Catalog: ...

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
            # before the fit: its held-out replay reads the groups the requests will
            self.fit_text_topics()
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

    def fit_text_topics(self) -> None:
        """Cluster the text of the items without a category into the groups the category
        signals read for them (:mod:`~pulserec.engine.texttopics`; ``text_topics``)."""
        if self.encoder is None or not self.config.text_topics:
            return
        with self._lock:
            n = len(self.catalog)
            idx = np.flatnonzero(self.items.has_text[:n] & ~self.items.categorised[:n])
            vectors = self.items.text[idx]  # a copy: fancy indexing
        fitted = fit_text_topics(vectors, self.config.random_state)
        with self._lock:
            if fitted is None:
                self.items.set_text_topics(None, idx[:0], idx[:0])
            else:
                self.items.set_text_topics(fitted[0], idx, fitted[1])

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
        """Serve from ``models`` from the next request on. The factor source's lists of
        the users active or read lately are then searched under them, outside the lock
        (:meth:`~pulserec.engine.sources.factor.FactorCache.fill`)."""
        with self._lock:
            lately = [*self.states, *self.factor_cache.cached_users]  # least recent first
            self.models = models
            # short-term vectors live in the factor space, which a refit changes:
            # states are rebuilt from the log on their next read
            self.states.clear()
            self.insight.forget()
        self.factor_cache.fill(models, lately, self.config.n_candidates)

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
        self.fit_text_topics()
        self.swap(models)
        return models
