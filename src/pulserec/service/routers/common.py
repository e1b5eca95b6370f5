"""Helpers the routers share: id checks, JSON bodies, scored items, documented errors."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from pydantic import BaseModel
from pydantic_core import PydanticCustomError

from pulserec.config import LimitSettings
from pulserec.engine import Engine
from pulserec.service.deps import LimitsDep
from pulserec.service.errors import ApiError
from pulserec.service.openapi import limit
from pulserec.service.schemas import ErrorBody, ScoredItem, check_id
from pulserec.types import Scored

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing or unknown API key."},
    403: {"model": ErrorBody, "description": "The API key lacks this route's scope."},
    422: {"model": ErrorBody, "description": "A field is invalid; `field` names it."},
}
"""Error answers every authenticated route may give."""

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such user or item."}
}
TOO_LARGE: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorBody, "description": "The body exceeds max_body_bytes."}
}


def valid_id(value: str, field: str, limits: LimitSettings) -> str:
    """``value`` when it is a well-formed id, else a 422 naming ``field``."""
    try:
        return check_id(value, limits.max_id_len)
    except PydanticCustomError as exc:
        raise ApiError(422, field, exc.message()) from None


def valid_ids(values: Sequence[str], field: str, limits: LimitSettings) -> list[str]:
    """At most ``max_batch`` of ``values``, each checked as an id (errors name ``field.<i>``)."""
    if len(values) > limits.max_batch:
        raise ApiError(
            422, field, f"must hold at most {limits.max_batch} values, got {len(values)}"
        )
    return [valid_id(v, f"{field}.{i}", limits) for i, v in enumerate(values)]


def valid_count(value: int, field: str, limits: LimitSettings) -> int:
    """``value`` when it is at most ``max_k`` (a list length a read asks for), else a 422."""
    if value > limits.max_k:
        raise ApiError(422, field, f"must be at most {limits.max_k}, got {value}")
    return value


async def k_param(
    limits: LimitsDep,
    k: int = Query(10, ge=1, description="How many items.", json_schema_extra=limit("max_k")),
) -> int:
    """The ``k`` query parameter of a read: 1..``max_k``."""
    return valid_count(k, "k", limits)


KDep = Annotated[int, Depends(k_param)]


UNSUPPORTED: dict[int | str, dict[str, Any]] = {
    415: {"model": ErrorBody, "description": "The body is not sent as application/json."}
}


def check_json_type(request: Request) -> None:
    """Refuse (415) a body not declared as JSON: ``application/json`` or ``*/*+json``,
    UTF-8 when a charset is named.

    A form or ``text/plain`` body that happens to parse is refused all the same: what a
    client declares is what it meant to send, and a mistake is better named than guessed.
    """
    declared = request.headers.get("content-type")
    media, _, params = (declared or "").partition(";")
    media = media.strip().lower()
    charset = ""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    json_type = media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )
    if not json_type or charset not in ("", "utf-8", "utf8"):
        got = repr(declared) if declared else "none"
        raise ApiError(415, "Content-Type", f"expected Content-Type: application/json, got {got}")


async def json_body(request: Request) -> Any:
    """The request's JSON document: 415 unless declared as JSON, 422 unless it parses."""
    check_json_type(request)
    return parse_json(await request.body())


def parse_json(raw: bytes) -> Any:
    """The JSON document of a request body, or a 422 saying why it is not one."""
    if not raw.strip():
        raise ApiError(422, "body", "expected a JSON body")
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise ApiError(422, "body", f"the body is not valid JSON: {exc}") from None
    # Unpaired surrogates get through here, escaped ("\\ud800") or as raw UTF-8-encoded
    # surrogate bytes (json decodes bytes with "surrogatepass"): the schemas refuse them
    # field by field, so one such event of a batch does not sink the others.
    return payload


def is_live(engine: Engine, item_id: str) -> bool:
    """Whether ``item_id`` is in the catalog and not deleted."""
    return not engine.is_deleted(item_id)


def scored_items(engine: Engine, items: Iterable[Scored]) -> list[ScoredItem]:
    """Scored items with their catalog titles."""
    out = []
    for position, s in enumerate(items, 1):
        title = engine.catalog.get(s.item_id).title if s.item_id in engine.catalog else ""
        out.append(ScoredItem(item_id=s.item_id, score=s.score, reason=s.reason, title=title,
                              position=position))  # fmt: skip
    return out


def bounded_schema(
    model: type[BaseModel], ids: Iterable[str], texts: Iterable[str]
) -> dict[str, Any]:
    """``model``'s JSON schema with markers for the app's id and text bounds.

    :func:`pulserec.service.openapi.install_limits` writes the app's limits in.
    """
    schema = model.model_json_schema()
    props: dict[str, Any] = schema["properties"]
    for name in ids:
        props[name].update(limit("id"))
    for name in texts:
        props[name].update(limit("max_text_len"))
    return schema


def one_or_batch_body(single: Mapping[str, Any], batch_key: str) -> dict[str, Any]:
    """OpenAPI ``requestBody`` of a route taking one object or ``{batch_key: [objects]}``."""
    batch = {
        "type": "object",
        "title": f"{batch_key.title()}Batch",
        "properties": {
            batch_key: {
                "type": "array",
                "items": dict(single),
                "minItems": 1,
                **limit("max_batch"),
            }
        },
        "required": [batch_key],
        "additionalProperties": False,
    }
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"anyOf": [batch, dict(single)]}}},
        }
    }


def entries(payload: Any, batch_key: str, limits: LimitSettings) -> tuple[list[Any], bool]:
    """The entries of a one-or-batch body, and whether it was a batch.

    A body holding ``batch_key`` is a batch of 1..max_batch entries; any other object
    is one entry.
    """
    if not isinstance(payload, dict):
        raise ApiError(
            422, "body", f"expected a JSON object: one entry, or {{{batch_key!r}: [...]}}"
        )
    if batch_key not in payload:
        return [payload], False
    extra = sorted(set(payload) - {batch_key})
    if extra:
        raise ApiError(422, extra[0], "unexpected field next to a batch")
    batch = payload[batch_key]
    if not isinstance(batch, list):
        raise ApiError(422, batch_key, "expected a list")
    if not 1 <= len(batch) <= limits.max_batch:
        raise ApiError(
            422, batch_key, f"expected 1 to {limits.max_batch} entries, got {len(batch)}"
        )
    return batch, True
