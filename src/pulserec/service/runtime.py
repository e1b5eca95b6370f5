"""What the app holds while it runs: the engine, its background trainer, the spam gate."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pulserec.config import Settings
from pulserec.engine import Engine, Trainer, TrainingRecord
from pulserec.online import OnlineLoop, open_online_store
from pulserec.service.heap import HeapKeeper
from pulserec.state.pending import PendingItems
from pulserec.storage import open_storage
from pulserec.storage.files import private_dir, warn_if_open
from pulserec.text import CachedEncoder, TextEncoder, make_encoder
from pulserec.text.spam import SpamFilter, SpamGate

if TYPE_CHECKING:
    from pulserec.text.sentiment import SentimentModel

log = logging.getLogger("pulserec.service")


class RemoteTrainer(Trainer):
    """Shared (Redis) storage: a refit is asked of the ``pulserec worker``, never run here.

    The worker announces the new version and every API process swaps it in.
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__(lambda **kwargs: engine.train(**kwargs))
        self.storage = engine.storage

    def start(self) -> bool:
        """Push a refit request onto the worker's queue; always accepted."""
        from pulserec.scaleout import request_training

        request_training(self.storage)  # type: ignore[arg-type]
        return True

    def run_now(self, *, sequential: bool | None = None) -> TrainingRecord:
        """Request a refit; the models arrive when the worker announces them."""
        self.start()
        raise RuntimeError("models are trained by the worker")


@dataclass
class Runtime:
    """The live state of one app, built by its lifespan."""

    settings: Settings
    engine: Engine
    trainer: Trainer
    spam: SpamGate | None
    started_at: float = field(default_factory=time.time)
    subscriber: Any = None  # shared storage: the ModelSubscriber thread
    heap: HeapKeeper | None = None


def pending_items(engine: Engine) -> PendingItems | None:
    """The engine's bounded map of users waiting for unknown items (``engine.pending``),
    or None for an engine that does not keep one."""
    found = getattr(engine, "pending", None)
    return found if isinstance(found, PendingItems) else None


def build_encoder(settings: Settings) -> TextEncoder:
    """The configured encoder; a real model gets the on-disk embedding cache."""
    encoder = make_encoder(settings.encoder)
    if settings.encoder == "hashing":
        return encoder  # computing a hash is cheaper than looking one up
    return CachedEncoder(encoder, settings.embedding_cache_dir)


def load_sentiment(encoder: TextEncoder) -> SentimentModel | None:
    """The shipped sentiment model when it fits the encoder, else None."""
    from pulserec.text.sentiment import SentimentModel

    try:
        return SentimentModel.default(encoder)
    except (FileNotFoundError, ValueError) as exc:
        # not shipped, or trained for another encoder: comments then move interests
        # without a sentiment sign
        log.info("no sentiment model for encoder %s: %s", encoder.name, exc)
        return None


def build_runtime(settings: Settings, on_empty: Callable[[Engine], None] | None) -> Runtime:
    """Open storage, build the engine, restore the catalog and models (or train)."""
    url = settings.resolved_storage_url
    if settings.log.retention_s > 0 and not url.startswith("redis://"):
        # a silent no-op would let an operator believe the log is bounded
        raise ValueError(
            f"log.retention_s: only a redis:// log is archived and trimmed (by `pulserec "
            f"worker`), the storage here is {url.split('?', 1)[0]!r}: set log.retention_s "
            "to 0 (a SQLite log lives on disk and is kept whole)"
        )
    warn_if_open(settings.data_dir)
    private_dir(settings.data_dir)
    storage = open_storage(url)
    try:
        encoder = build_encoder(settings)
        online = None
        if settings.online.log_lists:
            online = OnlineLoop(open_online_store(storage), settings.online).restore().start()
        engine = Engine(
            storage,
            encoder,
            settings.engine.to_engine_config(),
            artifacts_dir=settings.service_artifacts_dir,
            sentiment=load_sentiment(encoder),
            spam_filter=SpamFilter(encoder=encoder),
            online=online,
        )
        engine.load_from_storage()
        if on_empty is not None and storage.counts()["events"] == 0:
            on_empty(engine)
        trainer = RemoteTrainer(engine) if engine.shared else engine.trainer
        models = engine.models or engine.load_latest_models()
        if models is not None:
            trainer.last = TrainingRecord.of(models)
        elif storage.counts()["events"] > 0:
            if engine.shared:
                trainer.start()  # serve untrained until the worker announces models
            elif engine.config.sequential:
                # ready in seconds with every other model; the transformer, which takes
                # minutes on a large log, comes in with a background refit
                trainer.run_now(sequential=False)
                trainer.start()
            else:
                trainer.run_now()
        spam = engine.spam
        subscriber = None
        if engine.shared:
            from pulserec.scaleout import ModelSubscriber

            def record(m: Any) -> None:
                trainer.last = TrainingRecord.of(m)

            subscriber = ModelSubscriber(engine, on_swap=record).start()
        heap = HeapKeeper(
            lambda: engine.models, lambda: trainer.training,
            freeze_s=settings.gc.freeze_s, settle_s=settings.gc.settle_s,
        ).start()  # fmt: skip
    except BaseException:
        storage.close()
        raise
    return Runtime(settings, engine, trainer, spam, subscriber=subscriber, heap=heap)


SHUTDOWN_WAIT_S = 10.0
"""How long a stopping server waits for a running refit before it leaves it behind."""


def close_runtime(runtime: Runtime, wait_s: float = SHUTDOWN_WAIT_S) -> None:
    """Wait a little for a running refit, then release storage and the embedding cache.

    A refit that has not finished by then is abandoned (it dies with the process): a stop
    must not wait for minutes of training. Nothing is lost, since a refit only reads the
    log, and the artifacts it has not finished writing are never pointed at.
    """
    runtime.trainer.join(wait_s)
    if runtime.trainer.training:
        log.warning("stopping with a refit still running: it is abandoned")
    if runtime.heap is not None:
        runtime.heap.stop()
    if runtime.subscriber is not None:
        runtime.subscriber.stop()
    if runtime.engine.online is not None:
        runtime.engine.online.close()  # the served lists still waiting are written
    runtime.engine.storage.close()
    encoder = runtime.engine.encoder
    if isinstance(encoder, CachedEncoder):
        encoder.close()
