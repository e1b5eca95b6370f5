"""Validation rules of the HTTP API's fields: ids, free text, item attributes.

Each rule raises :class:`pydantic_core.PydanticCustomError` with a message saying what was
expected, so the request bodies of :mod:`pulserec.service.schemas` report the field and the
problem. Lengths come from the app's :class:`~pulserec.config.LimitSettings` (see
:func:`limits_of`).
"""

from __future__ import annotations

import math
import re

from pydantic import ValidationInfo
from pydantic_core import PydanticCustomError

from pulserec.config import LimitSettings

AttributeValue = str | int | float | bool | None | list[str | int | float | bool | None]
"""An item attribute: a JSON scalar or a flat list of them."""
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
