"""Request and response bodies of the HTTP API, with their bounds.

Lengths are bounded by the app's :class:`~pulserec.config.LimitSettings`, passed to
validation as ``context={"limits": ...}``; without a context the defaults apply. Bodies
that carry several events or items are validated one entry at a time, so one bad entry
never hides the others (see :func:`field_errors`).
"""

from __future__ import annotations

import math
import re
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

from pulserec.config import LimitSettings

EventTypeName = Literal[
    "view", "click", "cart", "purchase", "rate", "like", "dislike", "comment", "search",
    "impression", "skip",
]  # fmt: skip
"""Every accepted ``type`` of an event (the values of :class:`pulserec.types.EventType`)."""

AttributeValue = str | int | float | bool | None | list[str | int | float | bool | None]
"""An item attribute: a JSON scalar or a flat list of them."""

MAX_CATEGORIES = 100
"""Most categories one item may have."""

MAX_ATTRIBUTES = 100
"""Most attributes one item may have."""

_DEFAULT_LIMITS = LimitSettings()


def limits_of(info: ValidationInfo) -> LimitSettings:
    """The limits passed in the validation context, or the defaults."""
    context = info.context
    if isinstance(context, dict):
        limits = context.get("limits")
        if isinstance(limits, LimitSettings):
            return limits
    return _DEFAULT_LIMITS


_FORBIDDEN = "\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029"
ID_PATTERN = rf"^[^\s{_FORBIDDEN}](?:[^{_FORBIDDEN}]*[^\s{_FORBIDDEN}])?$"
"""What an id looks like: no control characters (C0, DEL, C1), no line or paragraph
separators, no whitespace at either end. (Unpaired surrogates are refused too, by
:func:`check_id`; a surrogate range here would break regex engines that have none.)"""

_FORBIDDEN_CHAR = re.compile(f"[{_FORBIDDEN}\\ud800-\\udfff]")
_SURROGATE = re.compile("[\\ud800-\\udfff]")

MAX_TIMESTAMP = 4_102_444_800.0
"""2100-01-01 in seconds since the epoch: later timestamps are certainly in milliseconds."""


def check_id(value: str, max_len: int) -> str:
    """Validate an external id: printable, not blank, no outer whitespace, bounded length.

    Raises
    ------
    pydantic_core.PydanticCustomError
        With a message that says what was expected.

    Examples
    --------
    >>> check_id("user-42 ✓", 256)
    'user-42 ✓'
    >>> check_id("a\\tb", 256)
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.PydanticCustomError: must not contain control or line \
separator characters (found U+0009 at position 1)
    """
    if not value.strip():
        raise PydanticCustomError("id_empty", "must not be empty")
    if len(value) > max_len:
        raise PydanticCustomError(
            "id_too_long",
            "must be at most {max_len} characters, got {length}",
            {"max_len": max_len, "length": len(value)},
        )
    check_unicode(value)
    bad = _FORBIDDEN_CHAR.search(value)
    if bad is not None:
        raise PydanticCustomError(
            "id_not_printable",
            "must not contain control or line separator characters "
            f"(found U+{ord(bad.group()):04X} at position {bad.start()})",
        )
    if value != value.strip():
        raise PydanticCustomError("id_whitespace", "must not start or end with whitespace")
    return value


def check_text(value: str, max_len: int) -> str:
    """Validate a free-text field: bounded length, valid Unicode (no unpaired surrogate).

    Examples
    --------
    >>> check_text("nice \\ud800", 100)
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.PydanticCustomError: must be valid UTF-8 text: found an \
unpaired surrogate U+D800 at position 5
    """
    if len(value) > max_len:
        raise PydanticCustomError(
            "text_too_long",
            "must be at most {max_len} characters, got {length}",
            {"max_len": max_len, "length": len(value)},
        )
    check_unicode(value)
    return value


def check_unicode(value: str) -> str:
    """Refuse a string holding an unpaired UTF-16 surrogate (U+D800..U+DFFF).

    Python's JSON decoder lets them in both as escapes (``"\\ud800"``) and as raw
    UTF-8-encoded surrogate bytes (it decodes with ``surrogatepass``); no valid text holds
    one, and SQLite, the embedding cache and the JSON answers could not encode it.
    """
    bad = _SURROGATE.search(value)
    if bad is not None:
        raise PydanticCustomError(
            "text_surrogate",
            "must be valid UTF-8 text: found an unpaired surrogate "
            f"U+{ord(bad.group()):04X} at position {bad.start()}",
        )
    return value


def printable(value: str) -> str:
    """``value`` with unpaired surrogates written as ``\\udXXX`` escapes, so it can be sent
    in a JSON answer (an error naming a field whose name holds one must not fail itself).

    Examples
    --------
    >>> printable("key\\ud800")
    'key\\\\ud800'
    """
    if _SURROGATE.search(value) is None:
        return value
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def check_attribute(key: str, value: AttributeValue, limits: LimitSettings) -> None:
    """Validate one item attribute: its name is an id (``max_id_len``), its strings are
    valid text of at most ``max_text_len`` characters, its numbers are finite.

    JSON has no NaN or infinity, yet Python's decoder reads ``NaN`` and turns ``1e400``
    into infinity; such a value could only come back as ``null``.

    Raises
    ------
    pydantic_core.PydanticCustomError
        Naming the attribute and what was wrong.

    Examples
    --------
    >>> check_attribute("price", float("inf"), LimitSettings())
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.PydanticCustomError: attribute 'price': must be a finite \
number, got inf
    """
    try:
        check_id(key, limits.max_id_len)
    except PydanticCustomError as exc:
        raise PydanticCustomError("attribute_name", f"an attribute name {exc.message()}") from None
    for part in value if isinstance(value, list) else [value]:
        try:
            if isinstance(part, str):
                check_text(part, limits.max_text_len)
            elif isinstance(part, float) and not math.isfinite(part):
                raise PydanticCustomError("not_finite", f"must be a finite number, got {part}")
        except PydanticCustomError as exc:
            raise PydanticCustomError(
                "attribute_value", f"attribute {key!r}: {exc.message()}"
            ) from None


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

    user_id: str = Field(description="The user's external id.")
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

    @field_validator("user_id", "item_id", "event_id")
    @classmethod
    def _ids(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else check_id(value, limits_of(info).max_id_len)

    @field_validator("text")
    @classmethod
    def _text(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else check_text(value, limits_of(info).max_text_len)


class IngestError(BaseModel):
    """Why one event of a batch was rejected."""

    index: int = Field(description="Position of the event in the request (0 for a single one).")
    field: str | None
    message: str

    @field_validator("field", "message")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        return None if value is None else printable(value)


class IngestResult(BaseModel):
    """What happened to the events of one request."""

    accepted: int = Field(description="Events newly stored (durably) and applied.")
    duplicates: int = Field(description="Events whose event_id was already stored (retries).")
    errors: list[IngestError] = Field(description="Events rejected, with the reason.")


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
    created_at: float | None = Field(None, ge=0.0, strict=True, allow_inf_nan=False)

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


class ItemOut(BaseModel):
    """An item of the catalog."""

    item_id: str
    title: str
    text: str
    categories: list[str]
    attributes: dict[str, Any]
    created_at: float | None


class ItemPage(BaseModel):
    """One page of the catalog."""

    total: int = Field(description="Items matching the filter, over all pages.")
    offset: int
    limit: int
    items: list[ItemOut]


class UpsertResult(BaseModel):
    """How many items were written."""

    upserted: int


class ScoredItem(BaseModel):
    """A recommended item, why it was chosen, and its title."""

    item_id: str
    score: float
    reason: str
    title: str


class RecommendationOut(BaseModel):
    """A ranked list for one user."""

    user_id: str
    model_version: str
    items: list[ScoredItem]


class SimilarOut(BaseModel):
    """Items like one item."""

    item_id: str
    items: list[ScoredItem]


class SearchOut(BaseModel):
    """Items matching a query, personalised when a user is given."""

    query: str
    user_id: str | None
    items: list[ScoredItem]


class KeywordOut(BaseModel):
    keyword: str
    weight: float


class CategoryWeightOut(BaseModel):
    category: str
    weight: float


class TopicShareOut(BaseModel):
    topic: int = Field(description="Index of the topic among the catalog's text clusters.")
    label: str = Field(description="The topic's keywords.")
    share: float = Field(description="Its share of the user's interest, 0..1.")


class TimelinePointOut(BaseModel):
    item_id: str
    timestamp: float
    topics: dict[str, float] = Field(description="Short-term topic mix right after this event.")


class ShortTermOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    keywords: list[KeywordOut]
    categories: list[CategoryWeightOut]
    topics: list[TopicShareOut]


class LongTermOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    keywords: list[KeywordOut]
    topics: list[TopicShareOut]


class InterestsOut(BaseModel):
    """What the engine believes a user is into, short and long term, in words."""

    model_config = ConfigDict(from_attributes=True)

    user_id: str
    n_events: int
    recent_items: list[str] = Field(description="Most recent first.")
    queries: list[str] = Field(description="The user's searches, oldest first.")
    short_term: ShortTermOut
    long_term: LongTermOut
    timeline: list[TimelinePointOut] = Field(
        description="The short-term topic mix after each of the last events, oldest first."
    )


class DeletedUser(BaseModel):
    """The result of forgetting a user."""

    user_id: str
    deleted_events: int


class DeletedItem(BaseModel):
    """The result of deleting an item."""

    item_id: str
    deleted: bool


class TrainStarted(BaseModel):
    """A refit started in the background."""

    status: Literal["training"]
    model_version: str = Field(description="The version served until the refit finishes.")


class LastTraining(BaseModel):
    """The last refit the server ran or loaded."""

    model_version: str
    trained_at: float = Field(description="Seconds since the epoch when it was fitted.")
    seconds: float | None = Field(
        description="How long it took (null when loaded from artifacts or fitted while seeding)."
    )
    metrics: dict[str, float]


class StatusOut(BaseModel):
    """Counts, the model served, and training."""

    events: int
    users: int
    items: int
    model_version: str
    training: bool
    last_training: LastTraining | None
    last_error: str | None = Field(description="Why the last background refit failed, if it did.")
    events_ingested: int = Field(description="Events accepted since the server started.")


class HealthOut(BaseModel):
    """Liveness."""

    status: Literal["ok"]
    model_version: str


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
