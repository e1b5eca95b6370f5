"""Placement routes: named list configurations (see :mod:`pulserec.control.placements`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from pulserec.control.placements import Placement
from pulserec.service.deps import EngineDep, LimitsDep, require
from pulserec.service.errors import ApiError
from pulserec.service.openapi import limit
from pulserec.service.routers.common import ERRORS, NOT_FOUND, UNSUPPORTED, json_body, valid_id
from pulserec.types import ValidationError


class PlacementOut(BaseModel):
    """A placement: its name and every field it sets (as stored)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [{"name": "home", "k": 8, "filter": "item.stock",
                          "promotions": [{"filter": "item.sponsored", "share": 0.25}]}]
        },
    )  # fmt: skip

    name: str


class PlacementList(BaseModel):
    placements: list[PlacementOut]


class DeletedPlacement(BaseModel):
    name: str
    deleted: bool


def to_out(placement: Placement) -> PlacementOut:
    return PlacementOut(name=placement.name, **placement.to_dict())


NamePath = Annotated[
    str,
    Path(min_length=1, description="The placement's name.", json_schema_extra=limit("max_id_len")),
]

router = APIRouter(prefix="/v1/placements", tags=["placements"], responses=ERRORS)


@router.put(
    "/{name}",
    response_model=PlacementOut,
    dependencies=[Depends(require("admin"))],
    responses=UNSUPPORTED,
)
async def put_placement(
    request: Request, engine: EngineDep, limits: LimitsDep, name: NamePath
) -> PlacementOut:
    """Add or replace a placement. Its expressions are checked against the catalog's
    properties now; 422 names the first field that cannot be used."""
    valid_id(name, "name", limits)
    body: Any = await json_body(request)
    try:
        placement = await run_in_threadpool(engine.put_placement, name, body)
    except ValidationError as exc:
        raise ApiError(422, exc.field, exc.message) from None
    return to_out(placement)


@router.get("", response_model=PlacementList, dependencies=[Depends(require("read"))])
async def list_placements(engine: EngineDep) -> PlacementList:
    """Every placement, by name."""
    found = await run_in_threadpool(engine.placements)
    return PlacementList(placements=[to_out(p) for p in found])


@router.get(
    "/{name}",
    response_model=PlacementOut,
    dependencies=[Depends(require("read"))],
    responses=NOT_FOUND,
)
async def get_placement(engine: EngineDep, limits: LimitsDep, name: NamePath) -> PlacementOut:
    """One placement; 404 when there is none of that name."""
    valid_id(name, "name", limits)
    found = await run_in_threadpool(engine.placement, name)
    if found is None:
        raise ApiError(404, "name", f"no placement {name!r}")
    return to_out(found)


@router.delete(
    "/{name}",
    response_model=DeletedPlacement,
    dependencies=[Depends(require("admin"))],
    responses=NOT_FOUND,
)
async def delete_placement(
    engine: EngineDep, limits: LimitsDep, name: NamePath
) -> DeletedPlacement:
    """Remove a placement; 404 when there is none of that name."""
    valid_id(name, "name", limits)
    if not await run_in_threadpool(engine.delete_placement, name):
        raise ApiError(404, "name", f"no placement {name!r}")
    return DeletedPlacement(name=name, deleted=True)
