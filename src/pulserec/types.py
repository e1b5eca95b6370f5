"""Core value types shared by every part of pulserec.

Raw external ids are strings (``user_id``, ``item_id``); dense integer indices
(``user_idx``, ``item_idx``) live only inside models and id maps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias

UserId: TypeAlias = str
ItemId: TypeAlias = str


class EventType(StrEnum):
    """What a user did. The order of the positive types is their strength."""

    VIEW = "view"
    CLICK = "click"
    CART = "cart"
    PURCHASE = "purchase"
    RATE = "rate"
    LIKE = "like"
    DISLIKE = "dislike"
    COMMENT = "comment"
    SEARCH = "search"
    IMPRESSION = "impression"
    SKIP = "skip"


EVENT_TYPES: frozenset[str] = frozenset(t.value for t in EventType)
"""Every accepted value of ``Event.type``."""

NEGATIVE_TYPES: frozenset[str] = frozenset({"dislike", "skip", "impression"})
"""Event types that never count as a positive interaction."""


SESSION_PREFIX = "session:"
"""User ids of anonymous sessions start with this; no real user id may."""


def session_user(session_id: str) -> str:
    """The user id an anonymous session's events and recommendations go by.

    Examples
    --------
    >>> session_user("a1b2")
    'session:a1b2'
    """
    return SESSION_PREFIX + session_id


class ValidationError(ValueError):
    """A value failed validation; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _check_id(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError(name, f"expected a string id, got {type(value).__name__}")
    if not value or not value.strip():
        raise ValidationError(name, "must not be empty")
    return value


@dataclass(frozen=True, slots=True)
class Event:
    """One thing a user did.

    ``item_id`` may be ``None`` only for ``search`` events, whose ``text`` is the
    query. ``timestamp`` is seconds since the Unix epoch (UTC). ``recommendation_id`` and
    ``position`` (1 = the top) name the served list and the place in it where the user
    met the item, when the client knows them (see :mod:`pulserec.online.attribution`).

    Examples
    --------
    >>> Event("u1", "i9", "click", 1_700_000_000.0).type
    'click'
    >>> Event("u1", None, "click", 0.0)
    Traceback (most recent call last):
    ...
    pulserec.types.ValidationError: item_id: required for event type 'click'
    """

    user_id: UserId
    item_id: ItemId | None
    type: str
    timestamp: float
    value: float | None = None
    text: str | None = None
    event_id: str | None = None
    recommendation_id: str | None = None
    position: int | None = None

    def __post_init__(self) -> None:
        _check_id("user_id", self.user_id)
        if self.position is not None and (isinstance(self.position, bool) or self.position < 1):
            raise ValidationError("position", f"expected a position >= 1, got {self.position}")
        if self.type not in EVENT_TYPES:
            raise ValidationError(
                "type", f"unknown event type {self.type!r}; expected one of {sorted(EVENT_TYPES)}"
            )
        if self.item_id is None:
            if self.type != EventType.SEARCH:
                raise ValidationError("item_id", f"required for event type {self.type!r}")
        else:
            _check_id("item_id", self.item_id)
        if self.type == EventType.SEARCH and not (self.text and self.text.strip()):
            raise ValidationError("text", "a search event needs the query text")
        if isinstance(self.timestamp, bool) or not isinstance(self.timestamp, int | float):
            raise ValidationError("timestamp", "expected seconds since the epoch as a number")
        if not math.isfinite(self.timestamp) or self.timestamp < 0:
            raise ValidationError(
                "timestamp", f"must be a finite non-negative number, got {self.timestamp}"
            )
        if self.value is not None and not math.isfinite(self.value):
            raise ValidationError("value", f"must be a finite number, got {self.value}")


@dataclass(frozen=True, slots=True)
class Item:
    """A recommendable thing and the text that describes it."""

    item_id: ItemId
    title: str = ""
    text: str = ""
    categories: tuple[str, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)
    created_at: float | None = None

    def __post_init__(self) -> None:
        _check_id("item_id", self.item_id)


@dataclass(frozen=True, slots=True)
class Scored:
    """An item with its score and, when known, the reason it was chosen."""

    item_id: ItemId
    score: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Recommendation:
    """A ranked list for one user, with the model version that produced it.

    ``recommendation_id`` names the served list (empty when nothing logs lists), and
    ``variant`` the experiment variant the user is in (empty outside any experiment).
    """

    user_id: UserId
    items: tuple[Scored, ...]
    model_version: str = ""
    recommendation_id: str = ""
    variant: str = ""
