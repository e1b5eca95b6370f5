"""Operator routes of the online loop: metrics of served lists, and experiments."""

from __future__ import annotations

import re
from typing import Annotated, Any

import pydantic
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from pulserec.engine import Engine
from pulserec.online import ExperimentError, OnlineLoop
from pulserec.service.deps import EngineDep, SettingsDep, require
from pulserec.service.errors import ApiError
from pulserec.service.routers.common import ERRORS, UNSUPPORTED, json_body
from pulserec.service.schemas import field_errors

router = APIRouter(
    prefix="/v1/admin",
    tags=["online"],
    responses={**ERRORS, **UNSUPPORTED},
    dependencies=[Depends(require("admin"))],
)

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_WINDOW = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
NamePath = Annotated[str, Path(min_length=1, max_length=128, description="The experiment.")]


class VariantIn(BaseModel):
    """One variant: a name, its share of all traffic, and the settings it overrides."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    share: float = Field(gt=0.0, le=1.0, allow_inf_nan=False)
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="diversity, realtime, sequential, sources, weights, exploration",
    )


class ExperimentIn(BaseModel):
    """An experiment: two or more variants; the first is the control."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128)
    variants: list[VariantIn] = Field(min_length=2, max_length=20)
    horizon_users: int = Field(
        1000, ge=1, description="Users every variant needs before the report decides."
    )
    salt: str = Field("", max_length=128, description="Seeds the user hash (default: the name).")


class ConcludeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    winner: str | None = None


def parse_window(raw: str, retention_s: float) -> float:
    """``30m``, ``24h``, ``7d`` or seconds, at most the retention."""
    m = _WINDOW.match(raw)
    if m is None:
        raise ApiError(422, "window", f"expected a duration like 30m, 24h, 7d or 3600, got {raw!r}")
    seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if not 0 < seconds <= retention_s:
        raise ApiError(422, "window", f"must be in (0, {retention_s:.0f}] seconds, got {seconds}")
    return seconds


def loop_of(engine: Engine) -> OnlineLoop:
    if engine.online is None:
        raise ApiError(409, None, "list logging is off (online.log_lists): no online loop")
    return engine.online


async def body_of(request: Request, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate(await json_body(request))
    except pydantic.ValidationError as exc:
        raise ApiError(422, None, "invalid body", errors=field_errors(exc)) from None


def failed(exc: ExperimentError) -> ApiError:
    return ApiError(exc.status, exc.field, exc.message)


@router.get("/online")
async def online(
    engine: EngineDep,
    settings: SettingsDep,
    window: str = Query("24h", description="How far back: 30m, 24h, 7d, or seconds."),
) -> dict[str, Any]:
    """Impressions, clicks, CTR (overall, by position, over time with 95% bands),
    conversions, coverage, novelty and time to click, per placement and variant."""
    seconds = parse_window(window, settings.online.retention_s)
    loop = loop_of(engine)
    out = await run_in_threadpool(loop.summary, seconds, len(engine.catalog))
    running = loop.running()
    out["experiment"] = loop.describe(running) if running is not None else None
    return out


@router.get("/experiments")
async def experiments(engine: EngineDep) -> list[dict[str, Any]]:
    """Every experiment, running or not."""
    loop = loop_of(engine)
    return [loop.describe(e) for e in loop.experiments.values()]


@router.post("/experiments", status_code=201)
async def create_experiment(request: Request, engine: EngineDep) -> dict[str, Any]:
    """Start an experiment; users are assigned by a stable hash of their id. 409 while
    another one runs."""
    body: ExperimentIn = await body_of(request, ExperimentIn)
    loop = loop_of(engine)
    try:
        e = await run_in_threadpool(
            engine.create_experiment, body.name, [v.model_dump() for v in body.variants],
            horizon_users=body.horizon_users, salt=body.salt,
        )  # fmt: skip
    except ExperimentError as exc:
        raise failed(exc) from None
    return loop.describe(e)


@router.get("/experiments/{name}")
async def report(engine: EngineDep, name: NamePath) -> dict[str, Any]:
    """Per-variant CTR and each variant against the first: difference, 95% interval,
    p-value (users as the units), sample warnings; a decision once the horizon is met."""
    loop = loop_of(engine)
    try:
        return await run_in_threadpool(loop.report, name)
    except ExperimentError as exc:
        raise failed(exc) from None


@router.post("/experiments/{name}/variants")
async def add_variant(request: Request, engine: EngineDep, name: NamePath) -> dict[str, Any]:
    """Add a variant from traffic no variant holds (assigned users never move)."""
    body: VariantIn = await body_of(request, VariantIn)
    loop = loop_of(engine)
    try:
        return loop.describe(engine.add_variant(name, body.model_dump()))
    except ExperimentError as exc:
        raise failed(exc) from None


@router.post("/experiments/{name}/stop")
async def stop(engine: EngineDep, name: NamePath) -> dict[str, Any]:
    """Stop assigning users: everyone gets the configured settings again."""
    loop = loop_of(engine)
    try:
        return loop.describe(await run_in_threadpool(engine.stop_experiment, name))
    except ExperimentError as exc:
        raise failed(exc) from None


@router.post("/experiments/{name}/conclude")
async def conclude(request: Request, engine: EngineDep, name: NamePath) -> dict[str, Any]:
    """Stop (if running) and record the chosen variant, ``{"winner": name or null}``."""
    body: ConcludeIn = await body_of(request, ConcludeIn)
    loop = loop_of(engine)
    try:
        e = await run_in_threadpool(
            lambda: engine.stop_experiment(name, winner=body.winner, conclude=True)
        )
    except ExperimentError as exc:
        raise failed(exc) from None
    return loop.describe(e)
