"""The FastAPI application: ``create_app(settings)`` builds it, its lifespan builds the engine.

Nothing is opened or loaded at import time. At start the lifespan opens the storage named
by ``settings.storage_url``, rebuilds the catalog and counters from it, loads the newest
model artifacts from ``<data_dir>/artifacts`` (or trains when there are none and the log
holds events), and serves. At shutdown it waits for a running refit and closes storage.

Examples
--------
>>> from pulserec.config import Settings
>>> app = create_app(Settings(api_keys="example-key:read", encoder="hashing"))
>>> {"/v1/events", "/v1/admin/train"} <= set(app.openapi()["paths"])
True
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

import pulserec
from pulserec.config import Settings
from pulserec.engine import Engine
from pulserec.service import redact
from pulserec.service.deps import API_KEY_HEADER
from pulserec.service.errors import install_error_handlers
from pulserec.service.heap import GC_PAUSES
from pulserec.service.keys import KeyConfigError, Keyring
from pulserec.service.metrics import Metrics, MetricsMiddleware
from pulserec.service.middleware import BodyLimitMiddleware, HeadMiddleware
from pulserec.service.openapi import install_limits
from pulserec.service.routers import (
    admin,
    dashboard,
    events,
    health,
    items,
    online,
    pages,
    placements,
    search,
    users,
)
from pulserec.service.runtime import build_runtime, close_runtime, pending_items
from pulserec.storage.files import private_umask

log = logging.getLogger("pulserec.service")

ROUTERS = (events, users, items, placements, search, admin, online, dashboard, health, pages)


def create_app(settings: Settings, *, on_empty: Callable[[Engine], None] | None = None) -> FastAPI:
    """Build the app for ``settings``.

    Parameters
    ----------
    settings : Settings
        Storage, data directory, encoder, keys, CORS and limits.
    on_empty : callable, optional
        Called with the engine at start when the event log is empty (e.g. to seed the
        demo data), before models are loaded or trained.

    Raises
    ------
    KeyConfigError
        When no API key is configured (or a key is malformed): the service never runs
        open. ``pulserec serve`` makes a local development key when none is set.
    """
    keyring = Keyring.from_sources(settings.api_keys.get_secret_value(), settings.api_keys_file)
    if len(keyring) == 0:
        raise KeyConfigError(
            "no API key configured: set PULSEREC_API_KEYS (e.g. 'my-key:ingest+read+admin') "
            "or PULSEREC_API_KEYS_FILE; `pulserec serve` on loopback makes a development key"
        )
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # keys in request lines (a ?key= link, a client's mistake) never reach the log
        redacting = redact.install(keyring)
        GC_PAUSES.install()  # process-wide and idempotent: left in place at shutdown
        try:
            # whatever the server writes (database, artifacts, caches) is private to its user
            with private_umask():
                # Building may read the whole log and train: off the event loop.
                runtime = await asyncio.to_thread(build_runtime, settings, on_empty)
                app.state.runtime = runtime
                metrics.watch_pending(lambda: pending_items(runtime.engine))
                metrics.watch_online(lambda: runtime.engine.online)
                metrics.watch_gc(lambda: GC_PAUSES)
                metrics.watch_lists(lambda: getattr(runtime.engine, "list_cache", None))
                log.info(
                    "pulserec serving %s (%d items, model %s)",
                    settings.resolved_storage_url,
                    len(runtime.engine.catalog),
                    runtime.engine.models.version if runtime.engine.models else "untrained",
                )
                try:
                    yield
                finally:
                    app.state.runtime = None
                    await asyncio.to_thread(close_runtime, runtime)
        finally:
            redact.uninstall(redacting)

    app = FastAPI(
        title="pulserec",
        version=pulserec.__version__,
        summary="Recommendations that follow what each user is interested in right now.",
        description=(
            f"Every route but `/healthz` needs an API key in the `{API_KEY_HEADER}` header. "
            "Scopes: `ingest` (events, items), `read` (recommendations, items, search, "
            "interests), `admin` (train, status, metrics, forgetting users). Every error "
            'answer is `{"detail": [{"field": ..., "message": ...}]}`.'
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.keyring = keyring
    app.state.metrics = metrics
    app.state.runtime = None
    install_error_handlers(app)
    for module in ROUTERS:
        app.include_router(module.router)
    install_limits(app, settings.limits)
    # Added last = outermost: CORS answers preflights, metrics time everything, including
    # the 413 of the body limit.
    app.add_middleware(HeadMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.limits.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "HEAD", "POST", "PUT", "DELETE"],
            allow_headers=[API_KEY_HEADER, "Content-Type"],
        )
    return app
