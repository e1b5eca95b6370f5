"""The engine: ingest events, keep each user's state current, recommend.

:class:`Engine` wires the parts together and owns what they share: the durable storage,
the user states, the serving models and the one lock that keeps them consistent. Its
methods live in three modules, one concern each, as mixins that ``Engine`` inherits:

- :mod:`~pulserec.engine.ingest` (``IngestMixin``): items in and out of the catalog,
  events into user states, states rebuilt from the log, users forgotten;
- :mod:`~pulserec.engine.refit` (``RefitMixin``): train, swap, the saved models, topics;
- :mod:`~pulserec.engine.serving` (``ServingMixin``): recommend, scores, similar items,
  search, placements, experiments, interests.

This module keeps the constructor, which sets every attribute the three read, and the
properties over them (``models``, ``catalog``, ``pending``, ``trending``).

Why mixins rather than three objects the engine holds: the three share all of this
state and its one lock, and call across (a request first catches up with a shared log;
forgetting a user reaches into a refit running meanwhile). As parts of one object they
read that state directly, with no back-reference and no forwarding method per public
name, and callers (the service, the CLI, the benchmarks that time ``Engine.catch_up``
by patching the class) see the same ``Engine`` as before. A mixin holds no state; it
declares the attributes it reads, so mypy checks each use against the types set here.
The mixins import the parts, never this module: no import cycle.

The parts each own their own state and know nothing of the engine:

- :class:`~pulserec.engine.items.LiveItems`: the catalog, text vectors, live counts;
- :class:`~pulserec.engine.fold.Folder`: one event into one user's state;
- :class:`~pulserec.engine.rank.Ranker`: candidate sources, features, blend, reasons;
- :class:`~pulserec.engine.sequential.SequentialScorer`: the transformer at request time;
- :class:`~pulserec.engine.sources.factor.FactorCache`: the factor source's candidates
  per user, kept for the serving models' life;
- :class:`~pulserec.engine.insight.Insight`: topics and interests in words;
- :class:`~pulserec.engine.training.Fitter` and ``Trainer``: refits, in the background.

Models are fitted beside the loop and swapped in atomically; ingest and recommend keep
working during a refit.
"""

from __future__ import annotations

import threading
from pathlib import Path

from threadpoolctl import threadpool_limits

from pulserec.catalog.catalog import Catalog
from pulserec.engine.config import EngineConfig
from pulserec.engine.explain import Explainer
from pulserec.engine.fold import Folder, Sentiment
from pulserec.engine.ingest import IngestMixin
from pulserec.engine.insight import Insight
from pulserec.engine.items import LiveItems
from pulserec.engine.listcache import ListCache
from pulserec.engine.modelset import ModelSet
from pulserec.engine.placing import Placer
from pulserec.engine.rank import Ranker
from pulserec.engine.refit import RefitMixin
from pulserec.engine.sequential import SequentialScorer
from pulserec.engine.serving import ServingMixin
from pulserec.engine.sources import check_sources
from pulserec.engine.sources.factor import FactorCache
from pulserec.engine.training import Fitter, Trainer
from pulserec.engine.trending import Trending
from pulserec.online.loop import OnlineLoop
from pulserec.state.memory import MemoryStateStore
from pulserec.state.pending import PendingItems
from pulserec.state.shared import LogTailStateStore
from pulserec.storage.base import Storage
from pulserec.storage.memory import MemoryStorage
from pulserec.text.base import TextEncoder
from pulserec.text.spam import SpamFilter, SpamGate


class Engine(IngestMixin, RefitMixin, ServingMixin):
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
        self.factor_cache = FactorCache(cfg.factor_cache_users)
        self.list_cache = ListCache(cfg.list_cache_ttl_s, cfg.list_cache_users)
        self.insight = Insight(self.items, cfg.state, cfg.random_state)
        self.ranker = Ranker(
            self.items, cfg, self.sequential, Explainer(self.items, self.insight, cfg.n_recent),
            self.factor_cache,
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
    def catalog(self) -> Catalog:
        """The live :class:`~pulserec.catalog.catalog.Catalog`."""
        return self.items.catalog

    @property
    def models(self) -> ModelSet | None:
        """The models serving now."""
        return self._models

    @models.setter
    def models(self, models: ModelSet | None) -> None:
        """Serve from ``models`` without touching user states (:meth:`swap` rebuilds them
        too); the transformer's cached scores, the factor source's cached candidates and
        the kept lists belong to the old models and are dropped."""
        self._models = models
        self.sequential.serve(models)
        self.factor_cache.serve(models)
        self.list_cache.clear()

    @property
    def pending(self) -> PendingItems:
        """Users waiting for items not in the catalog yet (bounded; see ``max_pending``)."""
        return self.items.pending

    @property
    def trending(self) -> Trending:
        """The live :class:`~pulserec.engine.trending.Trending` counts."""
        return self.items.trending


def _single_thread_faiss() -> None:
    """One OpenMP thread for faiss: requests search one query at a time, where waking a
    thread team costs more than it saves (measured 0.15 ms vs 0.31 ms per HNSW search)."""
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss is a dependency
        return
    faiss.omp_set_num_threads(1)
