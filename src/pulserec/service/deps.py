"""Dependencies of the routers: settings, engine, runtime and API-key auth.

Each is an ordinary FastAPI dependency, so tests can swap any of them with
``app.dependency_overrides``. They are ``async`` because none of them blocks: FastAPI
would run a plain ``def`` dependency in the thread pool, one hop per dependency per request.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from pulserec.config import LimitSettings, Settings
from pulserec.engine import Engine
from pulserec.service.errors import ApiError
from pulserec.service.keys import Keyring, Principal, Scope
from pulserec.service.metrics import Metrics
from pulserec.service.runtime import Runtime

API_KEY_HEADER = "X-API-Key"

_api_key = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="An API key; each key grants some of the scopes ingest, read, admin.",
)


async def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_limits(settings: Annotated[Settings, Depends(get_settings)]) -> LimitSettings:
    """The request limits of the app."""
    return settings.limits


async def get_runtime(request: Request) -> Runtime:
    """The engine, trainer and spam gate built by the app's lifespan."""
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        raise ApiError(503, None, "the server is starting; retry in a moment")
    return runtime


async def get_engine(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Engine:
    """The engine every route drives."""
    return runtime.engine


async def get_metrics(request: Request) -> Metrics:
    """The app's metrics."""
    metrics: Metrics = request.app.state.metrics
    return metrics


async def get_keyring(request: Request) -> Keyring:
    """The keys the app accepts."""
    keyring: Keyring = request.app.state.keyring
    return keyring


def require(scope: Scope) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency admitting only requests whose ``X-API-Key`` grants ``scope``.

    A missing or unknown key is answered 401, a key without the scope 403; neither
    answer carries any data.
    """

    async def check_key(
        keyring: Annotated[Keyring, Depends(get_keyring)],
        key: Annotated[str | None, Security(_api_key)] = None,
    ) -> Principal:
        challenge = {"WWW-Authenticate": "APIKey"}
        if not key:
            raise ApiError(
                401, API_KEY_HEADER, f"missing API key: send it in the {API_KEY_HEADER} header",
                headers=challenge,
            )  # fmt: skip
        principal = keyring.lookup(key)
        if principal is None:
            raise ApiError(401, API_KEY_HEADER, "unknown API key", headers=challenge)
        if scope not in principal.scopes:
            raise ApiError(
                403, API_KEY_HEADER, f"this API key lacks the {scope!r} scope this route needs"
            )
        return principal

    check_key.__name__ = f"require_{scope}"
    return check_key


EngineDep = Annotated[Engine, Depends(get_engine)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
LimitsDep = Annotated[LimitSettings, Depends(get_limits)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
