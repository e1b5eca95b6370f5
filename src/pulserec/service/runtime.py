"""What the app holds while it runs: the engine, the background trainer, the spam gate."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pulserec.config import Settings
from pulserec.engine import Engine, EngineConfig
from pulserec.state.pending import PendingItems
from pulserec.storage import open_storage
from pulserec.storage.files import private_dir, warn_if_open
from pulserec.text import CachedEncoder, TextEncoder, make_encoder
from pulserec.text.spam import SpamFilter
from pulserec.types import Event

if TYPE_CHECKING:
    from pulserec.text.sentiment import SentimentModel

log = logging.getLogger("pulserec.service")


@dataclass
class TrainingRecord:
    """One refit: which version it produced, when, how long it took."""

    model_version: str
    trained_at: float
    seconds: float | None
    metrics: dict[str, float] = field(default_factory=dict)


class Trainer:
    """Runs :meth:`Engine.train` in a background thread, one refit at a time.

    Ingest and recommend keep working during a refit: the engine swaps the new
    models in atomically when it is done. The guard is taken in the calling thread
    (unlike :meth:`Engine.train_async`, which checks, then starts a thread that takes the
    engine's lock later), so a second request right after the first is refused at once,
    and the record keeps how long each refit took.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._running = threading.Lock()
        self._thread: threading.Thread | None = None
        self.last: TrainingRecord | None = None
        self.last_error: str | None = None

    @property
    def training(self) -> bool:
        """Whether a refit is running now."""
        return self._running.locked()

    def start(self) -> bool:
        """Start a refit in the background; False when one is already running."""
        if not self._running.acquire(blocking=False):
            return False
        self._thread = threading.Thread(target=self._run, name="pulserec-train", daemon=True)
        self._thread.start()
        return True

    def run_now(self, *, sequential: bool | None = None) -> TrainingRecord:
        """Refit in the calling thread (server start); waits for a running refit first.

        ``sequential=False`` leaves the transformer out of this run (see
        :meth:`Engine.train`).
        """
        with self._running:
            return self._fit(sequential)

    def _fit(self, sequential: bool | None = None) -> TrainingRecord:
        t0 = time.perf_counter()
        models = self.engine.train(sequential=sequential)
        record = TrainingRecord(
            models.version, models.fitted_at, time.perf_counter() - t0, dict(models.metrics)
        )
        self.last = record
        self.last_error = None
        log.info("trained models %s in %.2fs", record.model_version, record.seconds)
        return record

    def _run(self) -> None:
        try:
            self._fit()
        except Exception as exc:  # a failed refit must not kill the server; it is reported
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("background training failed")
        finally:
            self._running.release()

    def join(self, timeout: float | None = None) -> None:
        """Wait for a background refit to finish."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)


class RemoteTrainer(Trainer):
    """Shared (Redis) storage: a refit is asked of the ``pulserec worker``, never run here.

    The worker announces the new version and every API process swaps it in.
    """

    def start(self) -> bool:
        """Push a refit request onto the worker's queue; always accepted."""
        from pulserec.scaleout import request_training

        request_training(self.engine.storage)  # type: ignore[arg-type]
        return True

    def run_now(self, *, sequential: bool | None = None) -> TrainingRecord:
        """Request a refit; the models arrive when the worker announces them."""
        self.start()
        raise RuntimeError("models are trained by the worker")


class SpamGate:
    """Flags spam comments with :class:`pulserec.text.spam.SpamFilter` (thread-safe)."""

    def __init__(self, spam_filter: SpamFilter) -> None:
        self.filter = spam_filter
        self._lock = threading.Lock()  # the filter remembers recent texts: one writer at a time

    def flags(self, events: Sequence[Event]) -> list[bool]:
        """One flag per event: True for a comment the filter judges to be spam."""
        rows = [i for i, e in enumerate(events) if e.type == "comment" and e.text]
        flags = [False] * len(events)
        if rows:
            with self._lock:
                verdicts = self.filter.check_many([events[i].text or "" for i in rows])
            for i, verdict in zip(rows, verdicts, strict=True):
                flags[i] = verdict.spam
        return flags


@dataclass
class Runtime:
    """The live state of one app, built by its lifespan."""

    settings: Settings
    engine: Engine
    trainer: Trainer
    spam: SpamGate | None
    started_at: float = field(default_factory=time.time)
    subscriber: Any = None  # shared storage: the ModelSubscriber thread


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
    return CachedEncoder(encoder, settings.data_dir / "embeddings")


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
    warn_if_open(settings.data_dir)
    private_dir(settings.data_dir)
    storage = open_storage(settings.resolved_storage_url)
    try:
        encoder = build_encoder(settings)
        engine = Engine(
            storage,
            encoder,
            EngineConfig(sequential=settings.sequential),
            artifacts_dir=settings.service_artifacts_dir,
            sentiment=load_sentiment(encoder),
        )
        engine.load_from_storage()
        if on_empty is not None and storage.counts()["events"] == 0:
            on_empty(engine)
        trainer = RemoteTrainer(engine) if engine.shared else Trainer(engine)
        models = engine.models or engine.load_latest_models()
        if models is not None:
            trainer.last = TrainingRecord(
                models.version, models.fitted_at, None, dict(models.metrics)
            )
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
        spam = SpamGate(SpamFilter(encoder=encoder))
        subscriber = None
        if engine.shared:
            from pulserec.scaleout import ModelSubscriber

            def record(m: Any) -> None:
                trainer.last = TrainingRecord(m.version, m.fitted_at, None, dict(m.metrics))

            subscriber = ModelSubscriber(engine, on_swap=record).start()
    except BaseException:
        storage.close()
        raise
    return Runtime(settings, engine, trainer, spam, subscriber=subscriber)


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
    if runtime.subscriber is not None:
        runtime.subscriber.stop()
    runtime.engine.storage.close()
    encoder = runtime.engine.encoder
    if isinstance(encoder, CachedEncoder):
        encoder.close()
