"""Per-user routes: recommendations, interests, and forgetting a user."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from starlette.concurrency import run_in_threadpool

from pulserec.service.deps import EngineDep, LimitsDep, require
from pulserec.service.errors import ApiError
from pulserec.service.openapi import limit
from pulserec.service.routers.common import (
    ERRORS,
    NOT_FOUND,
    KDep,
    scored_items,
    valid_id,
    valid_ids,
)
from pulserec.service.schemas import (
    DeletedUser,
    InterestsOut,
    RecommendationOut,
)

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
    placement: str = Query(
        "recommendations",
        description="Where the list is shown (online metrics are kept per placement).",
        json_schema_extra=limit("max_id_len"),
    ),
) -> RecommendationOut:
    """Top-``k`` items for a user, each with a score, a reason and its title.

    Reflects every event stored before this request. An unknown user gets the
    cold-start list, and no state is created for them.
    """
    valid_id(user_id, "user_id", limits)
    if category is not None:
        valid_id(category, "category", limits)
    excluded = valid_ids(exclude or [], "exclude", limits)
    valid_id(placement, "placement", limits)

    def work() -> RecommendationOut:
        rec = engine.recommend(user_id, k, diversity=diversity, category=category,
                               exclude=excluded, placement=placement)  # fmt: skip
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
