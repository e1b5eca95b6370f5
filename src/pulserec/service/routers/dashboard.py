"""Operator routes behind the dashboard: trending items, active users and the event rate, the
replay result."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from pulserec.engine import Engine
from pulserec.service.deps import EngineDep, LimitsDep, SettingsDep, require
from pulserec.service.errors import ApiError
from pulserec.service.openapi import limit
from pulserec.service.routers.common import ERRORS, is_live, valid_count
from pulserec.service.schemas import ErrorBody

REPLAY_FILE = "replay.json"
"""The streaming-replay result the dashboard shows, in the data directory."""

ACTIVE_TAIL = 10_000
"""How many of the newest events of the log ``active-users`` reads."""


class TrendingItem(BaseModel):
    """An item of the trending list, with its recency-decayed event weight."""

    item_id: str
    title: str
    categories: list[str]
    score: float = Field(description="Event weight, decayed by the trending half-life.")


class TrendingOut(BaseModel):
    """The items trending now, hottest first."""

    items: list[TrendingItem]


class ActiveUsersOut(BaseModel):
    """How many users produced an event lately."""

    window_s: float
    active_users: int = Field(description="Users with an event this recent (spam aside).")
    events: int = Field(
        description="Events this recent (spam aside), by event time; at most the scanned ones."
    )
    events_per_min: float = Field(description="``events`` per minute of the window.")
    scanned_events: int = Field(description="Newest events of the log that were read.")


def trending(engine: Engine, n: int) -> TrendingOut:
    """The ``n`` hottest live items of ``engine``.

    Parameters
    ----------
    engine : Engine
    n : int
        How many items at most.

    Returns
    -------
    TrendingOut
    """
    n_items = len(engine.catalog)
    if n_items == 0:
        return TrendingOut(items=[])
    # ask for a few more than n: deleted items are skipped
    top = engine.trending.top(min(n_items, n + 16), n_items)
    scores = engine.trending.scores(n_items)
    out = []
    for idx in top:
        item = engine.catalog.at(int(idx))
        score = round(float(scores[int(idx)]), 4)
        if score <= 0 or not is_live(engine, item.item_id):
            continue
        out.append(
            TrendingItem(
                item_id=item.item_id,
                title=item.title,
                categories=list(item.categories),
                score=score,
            )
        )
        if len(out) == n:
            break
    return TrendingOut(items=out)


def active_users(
    engine: Engine, window_s: float, now: float | None = None
) -> tuple[int, int, int]:
    """Distinct users with a non-spam event at most ``window_s`` before ``now``, and events.

    Reads only the tail of the durable log (the newest ``ACTIVE_TAIL`` events or so), so
    the answer survives refits and restarts and costs the same on any log size.

    Returns
    -------
    active : int
        Users seen in the window.
    scanned : int
        Events of the tail that were read.
    recent : int
        Non-spam events in the window: the event rate, times ``window_s``.
    """
    cutoff = (time.time() if now is None else now) - window_s
    n_events = engine.storage.counts()["events"]
    users: set[str] = set()
    scanned = recent = 0
    for stored in engine.storage.events(after_seq=max(0, n_events - ACTIVE_TAIL)):
        scanned += 1
        if not stored.spam and stored.event.timestamp >= cutoff:
            users.add(stored.event.user_id)
            recent += 1
    return len(users), scanned, recent


router = APIRouter(
    prefix="/v1/admin",
    tags=["admin"],
    responses=ERRORS,
    dependencies=[Depends(require("admin"))],
)


@router.get("/trending", response_model=TrendingOut)
async def trending_items(
    engine: EngineDep,
    limits: LimitsDep,
    n: int = Query(10, ge=1, description="How many items.", json_schema_extra=limit("max_k")),
) -> TrendingOut:
    """The items trending now: most event weight, decayed by recency."""
    return await run_in_threadpool(trending, engine, valid_count(n, "n", limits))


@router.get("/active-users", response_model=ActiveUsersOut)
async def active(
    engine: EngineDep,
    window_s: float = Query(
        900.0, gt=0, le=30 * 86400, allow_inf_nan=False, description="Look-back seconds."
    ),
) -> ActiveUsersOut:
    """How many users had an event in the last ``window_s`` seconds, and the event rate.

    Counted over the newest 10,000 events of the log (by event timestamp).
    """
    count, scanned, recent = await run_in_threadpool(active_users, engine, window_s)
    return ActiveUsersOut(
        window_s=window_s,
        active_users=count,
        events=recent,
        events_per_min=round(recent * 60.0 / window_s, 3),
        scanned_events=scanned,
    )


@router.get(
    "/replay",
    responses={404: {"model": ErrorBody, "description": "No replay result yet."}},
)
async def replay(settings: SettingsDep) -> dict[str, Any]:
    """The latest streaming-replay result (``<data_dir>/replay.json``), as written.

    404 while no replay result is there.
    """
    path = settings.data_dir / REPLAY_FILE

    def read() -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ApiError(500, None, f"cannot read {REPLAY_FILE}: {exc}") from None

    found = await run_in_threadpool(read)
    if found is None:
        raise ApiError(404, None, "no replay result yet")
    if not isinstance(found, dict):
        return {"result": found}
    return found
