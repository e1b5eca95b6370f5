"""Operator routes: refit in the background, and the server's status."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from pulserec.service.deps import RuntimeDep, require
from pulserec.service.errors import ApiError
from pulserec.service.routers.common import ERRORS
from pulserec.service.schemas import ErrorBody, LastTraining, StatusOut, TrainStarted

router = APIRouter(
    prefix="/v1/admin",
    tags=["admin"],
    responses=ERRORS,
    dependencies=[Depends(require("admin"))],
)


@router.post(
    "/train",
    status_code=202,
    response_model=TrainStarted,
    responses={409: {"model": ErrorBody, "description": "A refit is already running."}},
)
async def train(runtime: RuntimeDep) -> TrainStarted:
    """Refit every model on the event log in a background thread.

    Ingest and recommendations keep working meanwhile; the new models are served
    from the first request after the refit ends. 409 while a refit is running.
    """
    models = runtime.engine.models
    if not runtime.trainer.start():
        raise ApiError(409, None, "a refit is already running; poll /v1/admin/status")
    return TrainStarted(status="training", model_version=models.version if models else "untrained")


@router.get("/status", response_model=StatusOut)
async def status(runtime: RuntimeDep) -> StatusOut:
    """Counts of the durable log, the model served, and the last refit."""
    counts = await run_in_threadpool(runtime.engine.storage.counts)
    models = runtime.engine.models
    last = runtime.trainer.last
    return StatusOut(
        events=counts["events"],
        users=counts["users"],
        items=counts["items"],
        model_version=models.version if models else "untrained",
        training=runtime.trainer.training,
        last_training=None
        if last is None
        else LastTraining(
            model_version=last.model_version,
            trained_at=last.trained_at,
            seconds=last.seconds,
            metrics=last.metrics,
            previous_version=last.previous_version,
        ),
        last_error=runtime.trainer.last_error,
        events_ingested=runtime.engine.events_ingested,
    )
