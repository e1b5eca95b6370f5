"""``POST /v1/events``: validate each event, store the valid ones durably, apply them."""

from __future__ import annotations

import time
from typing import Any

import pydantic
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from pulserec.config import LimitSettings
from pulserec.service.deps import LimitsDep, MetricsDep, RuntimeDep, require
from pulserec.service.errors import ApiError
from pulserec.service.metrics import Metrics
from pulserec.service.routers.common import (
    ERRORS,
    TOO_LARGE,
    UNSUPPORTED,
    bounded_schema,
    entries,
    json_body,
    one_or_batch_body,
)
from pulserec.service.runtime import Runtime
from pulserec.service.schemas import EventIn, FieldError, IngestError, IngestResult, field_errors
from pulserec.types import Event, ValidationError, session_user


def validate_events(
    raw: list[Any], limits: LimitSettings, now: float
) -> tuple[list[int], list[Event], list[IngestError], list[tuple[str, str]]]:
    """Validate each entry on its own: (indices of valid ones, their Events, the errors,
    the ``(session_id, user_id)`` pairs of events that name both: logins)."""
    context = {"limits": limits}
    latest = now + limits.max_future_s
    kept: list[int] = []
    events: list[Event] = []
    errors: list[IngestError] = []
    logins: list[tuple[str, str]] = []
    for index, entry in enumerate(raw):
        try:
            parsed = EventIn.model_validate(entry, context=context)
            fields = parsed.model_dump()
            session_id = fields.pop("session_id")
            if fields["user_id"] is None:
                fields["user_id"] = session_user(session_id)
            event = Event(**fields)
        except pydantic.ValidationError as exc:
            errors += [IngestError(index=index, field=e.field, message=e.message)
                       for e in field_errors(exc)]  # fmt: skip
            continue
        except ValidationError as exc:
            errors.append(IngestError(index=index, field=exc.field, message=exc.message))
            continue
        if event.timestamp > latest:
            errors.append(
                IngestError(
                    index=index,
                    field="timestamp",
                    message=f"lies more than {limits.max_future_s:.0f}s past the server clock "
                    f"({event.timestamp} > {latest:.0f}); send seconds, not milliseconds",
                )
            )
            continue
        kept.append(index)
        events.append(event)
        if session_id is not None and parsed.user_id is not None:
            logins.append((session_id, parsed.user_id))
    return kept, events, errors, logins


def ingest(
    runtime: Runtime, metrics: Metrics, raw: list[Any], batch: bool, limits: LimitSettings
) -> IngestResult:
    """Validate, flag spam, and append the valid events in one durable call."""
    _, events, errors, logins = validate_events(raw, limits, time.time())
    metrics.events_rejected.inc(len({e.index for e in errors}))
    if not events:
        prefix = "events." if batch else ""
        raise ApiError(
            422,
            None,
            "no valid event in the request",
            errors=[
                FieldError(
                    field=f"{prefix}{e.index}.{e.field}" if batch else e.field,
                    message=e.message,
                )
                for e in errors
            ],
        )
    spam = runtime.spam.flags(events) if runtime.spam is not None else None
    accepted = runtime.engine.ingest_many(events, durable=True, spam=spam)
    for session_id, user_id in dict.fromkeys(logins):
        runtime.engine.merge_session(session_id, user_id)
    n_new = sum(accepted)
    metrics.events_ingested.inc(n_new)
    metrics.events_duplicate.inc(len(accepted) - n_new)
    if spam is not None:
        metrics.events_spam.inc(sum(f and a for f, a in zip(spam, accepted, strict=True)))
    return IngestResult(accepted=n_new, duplicates=len(accepted) - n_new, errors=errors)


router = APIRouter(prefix="/v1", tags=["events"], responses={**ERRORS, **TOO_LARGE, **UNSUPPORTED})


@router.post(
    "/events",
    response_model=IngestResult,
    dependencies=[Depends(require("ingest"))],
    openapi_extra=one_or_batch_body(
        bounded_schema(EventIn, ("user_id", "session_id", "item_id", "event_id"), ("text",)),
        "events",
    ),
    summary="Record events (one, or a batch of up to max_batch)",
)
async def post_events(
    request: Request, runtime: RuntimeDep, metrics: MetricsDep, limits: LimitsDep
) -> IngestResult:
    """Store valid events durably (committed before the answer) and apply them at once.

    Each event is validated on its own: invalid ones are reported in ``errors`` by
    index and never block the valid ones. A retry of an event with the same
    ``event_id`` is stored once and counted in ``duplicates``. A request in which no
    event is valid is answered 422.
    """
    raw, batch = entries(await json_body(request), "events", limits)
    return await run_in_threadpool(ingest, runtime, metrics, raw, batch, limits)
