"""Liveness (open) and Prometheus metrics (admin scope)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from pulserec.service.deps import MetricsDep, RuntimeDep, require
from pulserec.service.routers.common import ERRORS
from pulserec.service.schemas import HealthOut

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut)
async def healthz(runtime: RuntimeDep) -> HealthOut:
    """200 while the server runs; needs no key and tells nothing about users."""
    models = runtime.engine.models
    return HealthOut(status="ok", model_version=models.version if models else "untrained")


@router.get(
    "/metrics",
    dependencies=[Depends(require("admin"))],
    responses={
        **{k: v for k, v in ERRORS.items() if k != 422},
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text."},
    },
    response_class=Response,
)
async def metrics(metrics: MetricsDep) -> Response:
    """Prometheus text: latency histogram per route, events ingested, errors by status."""
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
