"""Request and response bodies of the HTTP API, with their bounds.

Lengths are bounded by the app's :class:`~pulserec.config.LimitSettings`, passed to
validation as ``context={"limits": ...}``; without a context the defaults apply. Bodies
that carry several events or items are validated one entry at a time, so one bad entry
never hides the others (see :func:`field_errors`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pydantic
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from pulserec.service.fields import (
    _SURROGATE,
    ID_PATTERN,
    AttributeValue,
    check_attribute,
    check_id,
    check_text,
    check_unicode,
    limits_of,
    printable,
)
from pulserec.service.responses import (
    CategoryWeightOut,
    DeletedItem,
    DeletedUser,
    HealthOut,
    IngestError,
    IngestResult,
    InterestsOut,
    ItemOut,
    ItemPage,
    KeywordOut,
    LastTraining,
    LongTermOut,
    RecommendationOut,
    ScoredItem,
    SearchOut,
    ShortTermOut,
    SimilarOut,
    StatusOut,
    TimelinePointOut,
    TopicShareOut,
    TrainStarted,
    UpsertResult,
)
from pulserec.types import SESSION_PREFIX

__all__ = [
    "ID_PATTERN",
    "MAX_ATTRIBUTES",
    "MAX_CATEGORIES",
    "MAX_TIMESTAMP",
    "AttributeValue",
    "CategoryWeightOut",
    "DeletedItem",
    "DeletedUser",
    "ErrorBody",
    "EventIn",
    "EventTypeName",
    "FieldError",
    "HealthOut",
    "IngestError",
    "IngestResult",
    "InterestsOut",
    "ItemIn",
    "ItemOut",
    "ItemPage",
    "KeywordOut",
    "LastTraining",
    "LongTermOut",
    "RecommendationOut",
    "ScoredItem",
    "SearchOut",
    "ShortTermOut",
    "SimilarOut",
    "StatusOut",
    "TimelinePointOut",
    "TopicShareOut",
    "TrainStarted",
    "UpsertResult",
    "check_attribute",
    "check_id",
    "check_text",
    "check_unicode",
    "field_errors",
    "limits_of",
    "printable",
]

EventTypeName = Literal[
    "view", "click", "cart", "purchase", "rate", "like", "dislike", "comment", "search",
    "impression", "skip",
]  # fmt: skip
"""Every accepted ``type`` of an event (the values of :class:`pulserec.types.EventType`)."""
MAX_CATEGORIES = 100
"""Most categories one item may have."""

MAX_ATTRIBUTES = 100
"""Most attributes one item may have."""
MAX_TIMESTAMP = 4_102_444_800.0
"""2100-01-01 in seconds since the epoch: later timestamps are certainly in milliseconds."""


def _category(value: str, info: ValidationInfo) -> str:
    return check_id(value, limits_of(info).max_id_len)


class FieldError(BaseModel):
    """One problem with a request: which field, and what was expected."""

    field: str | None = Field(
        description="Dotted path of the offending field (e.g. events.3.user_id), "
        "or null when the request as a whole is at fault."
    )
    message: str

    @field_validator("field", "message")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        return None if value is None else printable(value)


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer of the API has this shape."""

    detail: list[FieldError]


class _BodyEntry(BaseModel):
    """An object of a request body: unknown field names are reported, even invalid ones."""

    @model_validator(mode="before")
    @classmethod
    def _printable_names(cls, data: Any) -> Any:
        # a field name with an unpaired surrogate would fail inside pydantic-core with no
        # location; made printable, it is reported as the unexpected field it is
        if isinstance(data, dict) and any(
            isinstance(k, str) and _SURROGATE.search(k) for k in data
        ):
            return {printable(k) if isinstance(k, str) else k: v for k, v in data.items()}
        return data


class EventIn(_BodyEntry):
    """One thing a user did (see :class:`pulserec.types.Event`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"user_id": "u1", "item_id": "i9", "type": "click", "timestamp": 1.7e9},
                {"user_id": "u1", "type": "search", "text": "jazz", "timestamp": 1.7e9},
            ],
            # a search needs its query text; every other type needs an item
            "if": {"properties": {"type": {"const": "search"}}},
            "then": {
                "required": ["text"],
                "properties": {"text": {"type": "string", "pattern": "\\S"}},
            },
            "else": {"required": ["item_id"], "properties": {"item_id": {"type": "string"}}},
        },
    )

    user_id: str | None = Field(
        None, description="The user's external id; omitted for an anonymous session's event."
    )
    session_id: str | None = Field(
        None,
        description="The visitor's session. Alone: an anonymous session, recommended to as "
        "user 'session:<session_id>'. With a user_id: the session's events fold into the "
        "user (a login).",
    )
    item_id: str | None = Field(None, description="The item's id; omitted only for a search.")
    type: EventTypeName
    timestamp: float = Field(
        ge=0.0,
        le=MAX_TIMESTAMP,
        strict=True,
        allow_inf_nan=False,
        description="Seconds since the epoch (UTC); at most max_future_s past the server clock.",
    )
    value: float | None = Field(
        None, strict=True, allow_inf_nan=False, description="A rating or other strength."
    )
    text: str | None = Field(None, description="A comment, review or search query.")
    event_id: str | None = Field(
        None, description="Idempotency key: a retry with the same id is stored once."
    )
    recommendation_id: str | None = Field(
        None, description="The list that showed the item (its response's recommendation_id)."
    )
    position: int | None = Field(
        None, ge=1, strict=True, description="The item's position in that list, 1 = the top."
    )

    @field_validator("user_id", "session_id", "item_id", "event_id", "recommendation_id")
    @classmethod
    def _ids(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else check_id(value, limits_of(info).max_id_len)

    @field_validator("user_id")
    @classmethod
    def _not_a_session(cls, value: str | None) -> str | None:
        if value is not None and value.startswith(SESSION_PREFIX):
            raise PydanticCustomError(
                "reserved_id", f"ids starting with {SESSION_PREFIX!r} are anonymous sessions; "
                "send the session's id as session_id",
            )  # fmt: skip
        return value

    @model_validator(mode="after")
    def _someone(self) -> EventIn:
        if self.user_id is None and self.session_id is None:
            raise PydanticCustomError("missing", "give a user_id, a session_id or both")
        return self

    @field_validator("text")
    @classmethod
    def _text(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else check_text(value, limits_of(info).max_text_len)


class ItemIn(_BodyEntry):
    """A recommendable item and the text that describes it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "item_id": "i9",
                    "title": "Kind of Blue",
                    "text": "Modal jazz, 1959.",
                    "categories": ["jazz"],
                }
            ]
        },
    )

    item_id: str
    title: str = ""
    text: str = ""
    categories: list[Annotated[str, AfterValidator(_category)]] = Field(
        default_factory=list, max_length=MAX_CATEGORIES
    )
    attributes: dict[str, AttributeValue] = Field(default_factory=dict, max_length=MAX_ATTRIBUTES)
    created_at: float | None = Field(
        None,
        ge=0.0,
        le=MAX_TIMESTAMP,
        strict=True,
        allow_inf_nan=False,
        description="When the item was published, seconds since the epoch (UTC): the newest "
        "items of a user's categories are proposed by it, and an item is not proposed before.",
    )

    @field_validator("item_id")
    @classmethod
    def _item_id(cls, value: str, info: ValidationInfo) -> str:
        return check_id(value, limits_of(info).max_id_len)

    @field_validator("title", "text")
    @classmethod
    def _texts(cls, value: str, info: ValidationInfo) -> str:
        return check_text(value, limits_of(info).max_text_len)

    @field_validator("attributes")
    @classmethod
    def _attributes(
        cls, value: dict[str, AttributeValue], info: ValidationInfo
    ) -> dict[str, AttributeValue]:
        for key, attr in value.items():
            check_attribute(key, attr, limits_of(info))
        return value


def field_errors(exc: pydantic.ValidationError, prefix: str = "") -> list[FieldError]:
    """Flatten a pydantic error into (dotted field, message) pairs.

    Examples
    --------
    >>> try:
    ...     EventIn.model_validate({"user_id": "", "type": "click", "timestamp": 1})
    ... except pydantic.ValidationError as exc:
    ...     [e.field for e in field_errors(exc, "events.3.")]
    ['events.3.user_id']
    """
    out = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in err["loc"])
        field = f"{prefix}{loc}" if loc else (prefix.rstrip(".") or None)
        out.append(FieldError(field=field, message=str(err["msg"])))
    return out
