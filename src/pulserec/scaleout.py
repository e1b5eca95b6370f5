"""Several API processes and one training worker around one Redis server.

- Every API process serves from its own engine; users' states are caught up with the
  shared log on each read (:class:`pulserec.state.shared.LogTailStateStore`).
- One worker (``pulserec worker``) refits the models on a schedule or on request
  (the admin train route pushes onto the list ``<prefix>:train``), writes versioned
  artifacts into the shared artifact directory, and publishes the new version on the
  channel ``<prefix>:models``.
- Each API process runs a :class:`ModelSubscriber` thread that swaps the announced
  version in (``Engine.load_latest_models``).
- With ``log.retention_s`` set, the worker moves the log's events older than that window
  to Parquet files after each refit (:mod:`pulserec.storage.redis_archive`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from pulserec.config import LogSettings
from pulserec.engine import Engine
from pulserec.storage.base import StorageUnavailable
from pulserec.storage.redis import RedisStorage
from pulserec.storage.redis_archive import ArchiveReport, archive_log

log = logging.getLogger("pulserec.scaleout")


def models_channel(storage: RedisStorage) -> str:
    """The pub/sub channel new model versions are announced on."""
    return storage.key("models")


def train_queue(storage: RedisStorage) -> str:
    """The list a refit request is pushed onto."""
    return storage.key("train")


def request_training(storage: RedisStorage) -> None:
    """Ask the worker for a refit (raises :class:`StorageUnavailable` when Redis is down)."""
    storage._call(storage.client.rpush, train_queue(storage), str(time.time()))


class ModelSubscriber:
    """Background thread: swaps in every model version the worker announces.

    After a lost connection it resubscribes and loads the latest saved version
    once, so an announcement missed meanwhile is not missed for good.

    Parameters
    ----------
    engine : Engine
        Its storage must be a :class:`RedisStorage` and its ``artifacts_dir`` the
        directory the worker writes.
    on_swap : callable, optional
        Called with the engine's new :class:`pulserec.engine.ModelSet` after a swap.
    """

    def __init__(self, engine: Engine, on_swap: Callable[[Any], None] | None = None) -> None:
        if not isinstance(engine.storage, RedisStorage):
            raise TypeError("ModelSubscriber needs an engine on RedisStorage")
        self.engine = engine
        self.storage: RedisStorage = engine.storage
        self.on_swap = on_swap
        self.swaps = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pulserec-models", daemon=True)

    def start(self) -> ModelSubscriber:
        """Start the thread; returns self."""
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and wait for it."""
        self._stop.set()
        self._thread.join(timeout)

    def _swap(self) -> None:
        current = self.engine.models.version if self.engine.models is not None else None
        self.engine.sync_items()
        models = self.engine.load_latest_models()
        if models is not None and models.version != current:
            self.swaps += 1
            log.info("swapped in models %s", models.version)
            if self.on_swap is not None:
                self.on_swap(models)

    def _run(self) -> None:
        first = True
        while not self._stop.is_set():
            pubsub = self.storage.client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(models_channel(self.storage))
                if not first:
                    self._swap()  # catch an announcement made while disconnected
                first = False
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is not None and message.get("type") == "message":
                        self._swap()
            except Exception as exc:  # Redis down, or a half-written artifact: retry
                log.warning("model subscriber: %s; retrying", exc)
                self._stop.wait(0.5)
            finally:
                try:
                    pubsub.close()
                except Exception:  # closing a dead connection
                    log.debug("closing the pub/sub connection failed", exc_info=True)


def archive_due(storage: RedisStorage, settings: LogSettings) -> ArchiveReport | None:
    """Archive and trim the log past ``settings.retention_s``; None when it is 0 (the log
    stays whole in Redis). A window without a folder is refused by
    :meth:`LogSettings.archive_folder`, the check ``pulserec archive-events`` makes too."""
    folder = settings.archive_folder()
    if folder is None:
        return None
    return archive_log(
        storage, retention_s=settings.retention_s, folder=folder, keep_s=settings.archive_keep_s
    )


def run_worker(
    engine: Engine,
    *,
    every: float | None,
    once: bool = False,
    stop: threading.Event | None = None,
    log_settings: LogSettings | None = None,
) -> int:
    """Refit on a schedule and on request; announce each new version; then archive.

    Parameters
    ----------
    engine : Engine
        On :class:`RedisStorage`, with the shared ``artifacts_dir``.
    every : float or None
        Seconds between scheduled refits; None refits only on request.
    once : bool
        Refit once, announce, and return.
    stop : threading.Event, optional
        Set to end the loop.
    log_settings : LogSettings, optional
        With ``retention_s`` > 0, each refit is followed by an archive run
        (:func:`archive_due`); a failed run is logged and retried after the next refit.

    Returns
    -------
    int
        How many refits were made.
    """
    if not isinstance(engine.storage, RedisStorage):
        raise TypeError("the worker needs a redis:// storage")
    storage = engine.storage
    stop = stop or threading.Event()
    fits = 0
    next_due = time.monotonic() if every is not None else float("inf")
    while not stop.is_set():
        requested = False
        wait = min(next_due - time.monotonic(), 0.5)
        try:
            if once:
                requested = True
            elif wait > 0:
                got = storage._call(
                    storage.client.blpop, [train_queue(storage)], timeout=max(wait, 0.01)
                )
                requested = got is not None
            if requested or time.monotonic() >= next_due:
                storage._call(storage.client.delete, train_queue(storage))
                engine.sync_items()
                models = engine.train()
                storage._call(storage.client.publish, models_channel(storage), models.version)
                fits += 1
                log.info("trained and announced models %s", models.version)
                if log_settings is not None:
                    _archive_after_refit(storage, log_settings, raise_errors=once)
                if every is not None:
                    next_due = time.monotonic() + every
                if once:
                    return fits
        except StorageUnavailable as exc:
            log.warning("worker: %s; retrying in 1 s", exc)
            stop.wait(1.0)
        except Exception:  # a failed refit must not end the schedule; it is logged
            if once:
                raise
            log.exception("worker: refit failed; next attempt on schedule or request")
            if every is not None:
                next_due = time.monotonic() + every
    return fits


def _archive_after_refit(
    storage: RedisStorage, settings: LogSettings, *, raise_errors: bool
) -> None:
    try:
        report = archive_due(storage, settings)
    except Exception:
        if raise_errors:
            raise
        log.exception("worker: the archive run failed; it is retried after the next refit")
        return
    if report is not None and report.busy:
        log.info("worker: another archive run holds the archive; skipped this time")
