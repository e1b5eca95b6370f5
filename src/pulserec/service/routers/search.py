"""``GET /v1/search``: semantic search over item text, personalised for a given user."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from pulserec.service.deps import EngineDep, LimitsDep, MetricsDep, require
from pulserec.service.errors import ApiError
from pulserec.service.openapi import limit
from pulserec.service.routers.common import ERRORS, KDep, scored_items, valid_id
from pulserec.service.schemas import SearchOut
from pulserec.types import Event, Scored

router = APIRouter(prefix="/v1", tags=["search"], responses=ERRORS)


@router.get("/search", response_model=SearchOut, dependencies=[Depends(require("read"))])
async def search(
    engine: EngineDep,
    metrics: MetricsDep,
    limits: LimitsDep,
    k: KDep,
    q: str = Query(min_length=1, description="The query.", json_schema_extra=limit("max_text_len")),
    user_id: str | None = Query(
        None,
        description="Personalise for this user, and record the query as their search event.",
        json_schema_extra=limit("max_id_len"),
    ),
) -> SearchOut:
    """Items whose text matches the query.

    With ``user_id`` the results lean towards the user's interests, and the query is
    stored as a ``search`` event of that user (it moves their interests at once).
    """
    if len(q) > limits.max_text_len:
        raise ApiError(422, "q", f"must be at most {limits.max_text_len} characters, got {len(q)}")
    if not q.strip():
        raise ApiError(422, "q", "the query must not be blank")
    if user_id is not None:
        valid_id(user_id, "user_id", limits)

    def work() -> SearchOut:
        found: list[Scored] = []
        if len(engine.catalog) > 0:
            try:
                found = engine.search(q, k, user_id=user_id)
            except RuntimeError:
                # the engine has no text index before any item with text exists
                found = []
        if user_id is not None:
            event = Event(user_id, None, "search", time.time(), text=q)
            metrics.events_ingested.inc(sum(engine.ingest_many([event], durable=True)))
        rid, variant = engine.serve_list(user_id, "search", found)
        return SearchOut(query=q, user_id=user_id, items=scored_items(engine, found),
                         recommendation_id=rid, variant=variant)  # fmt: skip

    return await run_in_threadpool(work)
