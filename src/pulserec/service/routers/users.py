"""Per-user routes: recommendations, interests, and forgetting a user."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import pydantic
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from pulserec.control.syntax import MAX_LENGTH
from pulserec.service.deps import EngineDep, LimitsDep, require
from pulserec.service.errors import ApiError
from pulserec.service.openapi import limit
from pulserec.service.routers.common import (
    ERRORS,
    NOT_FOUND,
    KDep,
    json_body,
    scored_items,
    valid_id,
    valid_ids,
)
from pulserec.service.schemas import (
    DeletedUser,
    InterestsOut,
    RecommendationOut,
    field_errors,
)
from pulserec.types import SESSION_PREFIX, ValidationError

UserPath = Annotated[
    str,
    Path(
        min_length=1, description="The user's external id.", json_schema_extra=limit("max_id_len")
    ),
]

router = APIRouter(prefix="/v1/users", tags=["users"], responses=ERRORS)


@router.get(
    "/{user_id:path}/recommendations",
    response_model=RecommendationOut,
    dependencies=[Depends(require("read"))],
)
async def recommendations(
    request: Request,
    engine: EngineDep,
    limits: LimitsDep,
    user_id: UserPath,
    k: KDep,
    diversity: float = Query(
        0.0, ge=0.0, le=1.0, allow_inf_nan=False, description="0 = by score, 1 = most varied."
    ),
    category: str | None = Query(
        None, description="Only items of this category.", json_schema_extra=limit("max_id_len")
    ),
    exclude: Sequence[str] | None = Query(
        None,
        description="Item ids to leave out (repeatable).",
        json_schema_extra=limit("max_batch"),
    ),
    filter: str | None = Query(
        None,
        max_length=MAX_LENGTH,
        description="Only items passing this expression, e.g. "
        "`item.price < 50 and item.category in user.recent_categories` (docs/control.md).",
    ),
    boost: str | None = Query(
        None,
        max_length=MAX_LENGTH,
        description="An expression added to each item's score, e.g. "
        "`0.5 * (item.brand == 'acme')`.",
    ),
    placement: str | None = Query(
        None,
        description="Where the list is shown: online metrics are kept per placement "
        "(`recommendations` when none), and a stored placement of that name applies its "
        "rules, its k and diversity unless the request gives them.",
        json_schema_extra=limit("max_id_len"),
    ),
    context_item: str | None = Query(
        None,
        description="The item the list is shown beside (a product page's): expressions "
        "read it as `context.<property>`, and it is left out of the list.",
        json_schema_extra=limit("max_id_len"),
    ),
) -> RecommendationOut:
    """Top-``k`` items for a user, each with a score, a reason and its title.

    Reflects every event stored before this request. An unknown user gets the
    cold-start list, and no state is created for them. ``filter`` and ``boost`` are
    expressions over item properties and the user; a bad one answers 422 naming the
    parameter and the position in the expression.
    """
    valid_id(user_id, "user_id", limits)
    if category is not None:
        valid_id(category, "category", limits)
    excluded = valid_ids(exclude or [], "exclude", limits)
    if placement is not None:
        valid_id(placement, "placement", limits)
    if context_item is not None:
        valid_id(context_item, "context_item", limits)

    def work() -> RecommendationOut:
        nonlocal k, diversity
        chosen = engine.placement(placement) if placement is not None else None
        if chosen is not None:  # a name without a stored placement only labels the list
            given = request.query_params
            k = chosen.k if chosen.k is not None and "k" not in given else k
            if chosen.diversity is not None and "diversity" not in given:
                diversity = chosen.diversity
        try:
            rec = engine.recommend(
                user_id, k, diversity=diversity, category=category, exclude=excluded,
                filter=filter, boost=boost, placement=placement, context_item=context_item,
            )  # fmt: skip
        except ValidationError as exc:
            raise ApiError(422, exc.field, exc.message) from None
        items = scored_items(engine, rec.items)
        return RecommendationOut(
            user_id=user_id, model_version=rec.model_version, items=items,
            recommendation_id=rec.recommendation_id, variant=rec.variant,
        )  # fmt: skip

    return await run_in_threadpool(work)


@router.get(
    "/{user_id:path}/interests",
    response_model=InterestsOut,
    dependencies=[Depends(require("read"))],
    responses=NOT_FOUND,
)
async def interests(engine: EngineDep, limits: LimitsDep, user_id: UserPath) -> InterestsOut:
    """What the engine believes the user is into now; 404 for a user without events."""
    valid_id(user_id, "user_id", limits)
    found = await run_in_threadpool(engine.interests, user_id)
    if found is None:
        raise ApiError(404, "user_id", f"no events of user {user_id!r}")
    return InterestsOut.model_validate(found, from_attributes=True)


class MergeIn(BaseModel):
    """The anonymous session whose history folds into the user."""

    model_config = ConfigDict(extra="forbid")

    session_id: str


class MergeOut(BaseModel):
    user_id: str
    session_id: str
    merged_events: int


@router.post(
    "/{user_id:path}/merge",
    response_model=MergeOut,
    dependencies=[Depends(require("ingest"))],
)
async def merge(
    request: Request, engine: EngineDep, limits: LimitsDep, user_id: UserPath
) -> MergeOut:
    """Fold an anonymous session's events into a user (after a login); the user's next
    recommendations reflect them. Idempotent: merging again moves nothing."""
    valid_id(user_id, "user_id", limits)
    if user_id.startswith(SESSION_PREFIX):
        raise ApiError(422, "user_id", "merge a session into a user, not into a session")
    try:
        body = MergeIn.model_validate(await json_body(request))
    except pydantic.ValidationError as exc:
        raise ApiError(422, None, "invalid body", errors=field_errors(exc)) from None
    valid_id(body.session_id, "session_id", limits)
    moved = await run_in_threadpool(engine.merge_session, body.session_id, user_id)
    return MergeOut(user_id=user_id, session_id=body.session_id, merged_events=moved)


@router.delete(
    "/{user_id:path}",
    response_model=DeletedUser,
    dependencies=[Depends(require("admin"))],
)
async def delete_user(engine: EngineDep, limits: LimitsDep, user_id: UserPath) -> DeletedUser:
    """Forget a user: their events leave the log and their state leaves memory.

    Idempotent: forgetting an unknown user deletes nothing and answers 200.
    """
    valid_id(user_id, "user_id", limits)
    deleted = await run_in_threadpool(engine.delete_user, user_id)
    return DeletedUser(user_id=user_id, deleted_events=deleted)
