"""Catalog routes: upsert, read, browse, delete, and items similar to one item."""

from __future__ import annotations

from typing import Annotated, Any

import pydantic
from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from pulserec.config import LimitSettings
from pulserec.engine import Engine
from pulserec.service.deps import EngineDep, LimitsDep, require
from pulserec.service.errors import ApiError
from pulserec.service.openapi import limit as limit_marker
from pulserec.service.routers.common import (
    ERRORS,
    NOT_FOUND,
    TOO_LARGE,
    UNSUPPORTED,
    KDep,
    bounded_schema,
    entries,
    is_live,
    json_body,
    one_or_batch_body,
    scored_items,
    valid_count,
    valid_id,
)
from pulserec.service.schemas import (
    DeletedItem,
    FieldError,
    ItemIn,
    ItemOut,
    ItemPage,
    SimilarOut,
    UpsertResult,
    field_errors,
)
from pulserec.types import Item


def to_out(item: Item) -> ItemOut:
    """The API view of a catalog item."""
    return ItemOut(
        item_id=item.item_id,
        title=item.title,
        text=item.text,
        categories=list(item.categories),
        attributes=dict(item.attributes),
        created_at=item.created_at,
    )


def validate_items(raw: list[Any], batch: bool, limits: LimitSettings) -> list[Item]:
    """Every entry as an Item, or a 422 listing every bad field (nothing is written then)."""
    context = {"limits": limits}
    items: list[Item] = []
    errors: list[FieldError] = []
    for index, entry in enumerate(raw):
        prefix = f"items.{index}." if batch else ""
        try:
            parsed = ItemIn.model_validate(entry, context=context)
        except pydantic.ValidationError as exc:
            errors += field_errors(exc, prefix)
            continue
        items.append(
            Item(
                parsed.item_id,
                parsed.title,
                parsed.text,
                tuple(parsed.categories),
                dict(parsed.attributes),
                parsed.created_at,
            )
        )
    if errors:
        raise ApiError(422, None, "invalid items", errors=errors)
    return items


def upsert(engine: Engine, raw: list[Any], batch: bool, limits: LimitSettings) -> UpsertResult:
    """Validate all, then write all: the text is embedded and the items are live at once."""
    items = validate_items(raw, batch, limits)
    conflicts = engine.check_items(items)
    if conflicts:
        errors = [
            FieldError(field=f"items.{pos}.{where}" if batch else where, message=message)
            for pos, where, message in conflicts
        ]
        raise ApiError(422, None, "invalid item properties", errors=errors)
    engine.upsert_items(items)
    return UpsertResult(upserted=len(items))


def require_live(engine: Engine, item_id: str, limits: LimitSettings) -> None:
    """A well-formed id of a live item, else the 4xx naming ``item_id``."""
    valid_id(item_id, "item_id", limits)
    if not is_live(engine, item_id):
        raise ApiError(404, "item_id", f"no item {item_id!r}")


ItemPath = Annotated[
    str,
    Path(
        min_length=1,
        description="The item's external id.",
        json_schema_extra=limit_marker("max_id_len"),
    ),
]

router = APIRouter(prefix="/v1/items", tags=["items"], responses=ERRORS)


@router.put(
    "",
    response_model=UpsertResult,
    dependencies=[Depends(require("ingest"))],
    openapi_extra=one_or_batch_body(
        bounded_schema(ItemIn, ("item_id", "categories"), ("title", "text")), "items"
    ),
    responses={**TOO_LARGE, **UNSUPPORTED},
    summary="Add or replace items (one, or a batch)",
)
async def put_items(request: Request, engine: EngineDep, limits: LimitsDep) -> UpsertResult:
    """Add or replace items; their text is embedded and they are recommendable and
    searchable from the next request on. The batch is all or nothing: one invalid item
    fails the request (422 naming each bad field) and nothing is written.
    """
    raw, batch = entries(await json_body(request), "items", limits)
    return await run_in_threadpool(upsert, engine, raw, batch, limits)


@router.get("", response_model=ItemPage, dependencies=[Depends(require("read"))])
async def list_items(
    engine: EngineDep,
    limits: LimitsDep,
    offset: int = Query(0, ge=0, le=2**31, description="Items to skip."),
    limit: int = Query(
        20, ge=1, description="Items per page.", json_schema_extra=limit_marker("max_k")
    ),
    category: str | None = Query(
        None,
        description="Only items of this category.",
        json_schema_extra=limit_marker("max_id_len"),
    ),
) -> ItemPage:
    """Browse the catalog in insertion order, optionally one category."""
    valid_count(limit, "limit", limits)
    if category is not None:
        valid_id(category, "category", limits)
    live = [
        item
        for item in list(engine.catalog)
        if is_live(engine, item.item_id) and (category is None or category in item.categories)
    ]
    page = live[offset : offset + limit]
    return ItemPage(total=len(live), offset=offset, limit=limit, items=[to_out(i) for i in page])


@router.get(
    "/{item_id:path}/similar",
    response_model=SimilarOut,
    dependencies=[Depends(require("read"))],
    responses=NOT_FOUND,
)
async def similar(
    engine: EngineDep,
    limits: LimitsDep,
    item_id: ItemPath,
    k: KDep,
    user_id: str | None = Query(
        None,
        description="Who is shown the list (its clicks are then attributed to them).",
        json_schema_extra=limit_marker("max_id_len"),
    ),
) -> SimilarOut:
    """Items like this one: co-visitation, factor and text similarity combined."""
    require_live(engine, item_id, limits)
    if user_id is not None:
        valid_id(user_id, "user_id", limits)

    def work() -> SimilarOut:
        found = engine.similar(item_id, k)
        rid, variant = engine.serve_list(user_id, "similar", found)
        return SimilarOut(item_id=item_id, items=scored_items(engine, found),
                          recommendation_id=rid, variant=variant)  # fmt: skip

    return await run_in_threadpool(work)


@router.get(
    "/{item_id:path}",
    response_model=ItemOut,
    dependencies=[Depends(require("read"))],
    responses=NOT_FOUND,
)
async def get_item(engine: EngineDep, limits: LimitsDep, item_id: ItemPath) -> ItemOut:
    """One item of the catalog."""
    require_live(engine, item_id, limits)
    return to_out(engine.catalog.get(item_id))


@router.delete(
    "/{item_id:path}",
    response_model=DeletedItem,
    dependencies=[Depends(require("ingest"))],
    responses=NOT_FOUND,
)
async def delete_item(engine: EngineDep, limits: LimitsDep, item_id: ItemPath) -> DeletedItem:
    """Stop recommending an item (its events stay in the log); 404 when unknown."""
    require_live(engine, item_id, limits)
    await run_in_threadpool(engine.delete_item, item_id)
    return DeletedItem(item_id=item_id, deleted=True)
