"""Typed item properties, held as columns over the catalog for vectorised masks.

An item's ``attributes`` hold its properties. Each value has one of five types, and a
property keeps the type it first had in the catalog:

- ``number`` (JSON number; ``bool`` is not a number),
- ``bool``,
- ``string``,
- ``strings`` (a list of strings: tags, sizes, colours),
- ``datetime`` (an ISO 8601 string with a timezone, ``2026-01-05T10:00:00Z``, or a date,
  ``2026-01-05``, read as midnight UTC).

``null`` means the item has no value. Five properties are built in and not read from
``attributes``: ``id``, ``title``, ``category`` (the first category), ``categories`` and
``created_at``.

Columns: numbers, bools and datetimes (seconds since the epoch) are float64 arrays with
NaN for a missing value; strings are int32 codes into a vocabulary (-1: missing); lists
of strings keep one tuple per item and an inverted index built on first use after a
change.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import numpy as np

from pulserec.types import Item

Kind = Literal["number", "bool", "string", "strings", "datetime"]
"""The type of a property."""

BUILT_IN: dict[str, Kind] = {
    "id": "string",
    "title": "string",
    "category": "string",
    "categories": "strings",
    "created_at": "datetime",
}
"""Properties every item has, read from the item's own fields, not its attributes."""

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(.*)$")
_ZONE = re.compile(r"^(Z|[+-]\d{2}:?\d{2})$")


class PropertyError(ValueError):
    """A property value that pulserec cannot type; the message says what was expected."""


def parse_datetime(value: str) -> float | None:
    """Seconds since the epoch of an ISO 8601 date or datetime; None when ``value`` does
    not look like one.

    Raises
    ------
    PropertyError
        For a datetime without a timezone or one that does not exist.

    Examples
    --------
    >>> parse_datetime("2026-01-05"), parse_datetime("2026-01-05T01:00:00+01:00")
    (1767571200.0, 1767571200.0)
    >>> parse_datetime("blue") is None
    True
    """
    if _DATE.match(value):
        text = value + "T00:00:00+00:00"
    else:
        m = _DATETIME.match(value)
        if m is None:
            return None
        zone = m.group(3)
        if not _ZONE.match(zone):
            raise PropertyError(
                f"a datetime needs a timezone (Z or +hh:mm), got {value!r}"
                if not zone
                else f"not a valid datetime: {value!r}"
            )
        text = value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise PropertyError(f"not a valid date or datetime: {value!r}") from None
    if parsed.tzinfo is None:  # pragma: no cover - every accepted form carries a zone
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def kind_of(value: object) -> Kind | None:
    """The type of one attribute value; None for ``null``.

    Raises
    ------
    PropertyError
        Saying what was expected.

    Examples
    --------
    >>> [kind_of(v) for v in (3, 2.5, True, "red", ["a", "b"], "2026-01-05", None)]
    ['number', 'number', 'bool', 'string', 'strings', 'datetime', None]
    >>> kind_of([1, 2])
    Traceback (most recent call last):
    ...
    pulserec.control.properties.PropertyError: a list must hold strings only, got int
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise PropertyError(f"must be a finite number, got {value}")
        return "number"
    if isinstance(value, str):
        return "datetime" if parse_datetime(value) is not None else "string"
    if isinstance(value, list | tuple):
        for part in value:
            if not isinstance(part, str):
                raise PropertyError(f"a list must hold strings only, got {type(part).__name__}")
        return "strings"
    raise PropertyError(
        "expected a number, bool, string, list of strings or ISO 8601 datetime, "
        f"got {type(value).__name__}"
    )


def built_in_values(item: Item) -> dict[str, object]:
    """The built-in properties of an item."""
    return {
        "id": item.item_id,
        "title": item.title or None,
        "category": item.categories[0] if item.categories else None,
        "categories": list(item.categories),
        "created_at": item.created_at,
    }


@dataclass
class Column:
    """One property over the catalog (see the module docstring for the layouts)."""

    kind: Kind
    values: np.ndarray
    vocab: dict[str, int] = field(default_factory=dict)
    lists: list[tuple[str, ...]] = field(default_factory=list)
    _inverted: dict[str, np.ndarray] | None = None

    def code(self, value: str) -> int:
        """The code of a string value; -2 (matching nothing) when no item has it."""
        return self.vocab.get(value, -2)

    def contains(self, values: Iterable[str]) -> np.ndarray:
        """For a list column: whether each item's list holds any of ``values``."""
        if self._inverted is None:
            inverted: dict[str, list[int]] = {}
            for idx, entry in enumerate(self.lists):
                for value in entry:
                    inverted.setdefault(value, []).append(idx)
            self._inverted = {v: np.asarray(ix, np.int64) for v, ix in inverted.items()}
        mask = np.zeros(len(self.lists), dtype=bool)
        for value in values:
            found = self._inverted.get(value)
            if found is not None:
                mask[found] = True
        return mask

    def value_at(self, idx: int) -> object:
        """The plain value of one item (None when missing)."""
        if self.kind == "strings":
            return list(self.lists[idx]) if idx < len(self.lists) else []
        if idx >= len(self.values):
            return None
        if self.kind == "string":
            code = int(self.values[idx])
            if code < 0:
                return None
            return self._decode()[code]
        v = float(self.values[idx])
        if math.isnan(v):
            return None
        return bool(v) if self.kind == "bool" else v

    def _decode(self) -> list[str]:
        out = [""] * len(self.vocab)
        for value, code in self.vocab.items():
            out[code] = value
        return out


class Properties:
    """Every item property as a column over the catalog's item indices.

    ``version`` changes with every write (a cached mask is stale once it moved);
    ``schema_version`` changes when a property is added (a compiled expression is).

    Examples
    --------
    >>> props = Properties()
    >>> props.set(np.array([0, 1]), [Item("a", attributes={"price": 5}),
    ...                              Item("b", attributes={"price": 50, "tags": ["x"]})])
    >>> props.column("price").values.tolist(), props.kinds["tags"]
    ([5.0, 50.0], 'strings')
    """

    def __init__(self) -> None:
        self.kinds: dict[str, Kind] = dict(BUILT_IN)
        self.columns: dict[str, Column] = {}
        self.n = 0
        self.version = 0
        self.schema_version = 0

    def column(self, name: str) -> Column:
        """The column of a known property, sized to the catalog."""
        col = self.columns.get(name)
        if col is None:
            col = self.columns[name] = _empty(self.kinds[name], self.n)
        _resize(col, self.n)
        return col

    def conflicts(self, items: Sequence[Item]) -> list[tuple[int, str, str]]:
        """``(position, field, message)`` for each attribute whose value cannot be typed
        or whose type differs from the catalog's (or an earlier item's of the batch)."""
        seen = dict(self.kinds)
        out = []
        for pos, item in enumerate(items):
            for name, value in item.attributes.items():
                where = f"attributes.{name}"
                if name in BUILT_IN:
                    out.append((pos, where, f"{name!r} is a built-in property; use another name"))
                    continue
                try:
                    kind = kind_of(value)
                except PropertyError as exc:
                    out.append((pos, where, str(exc)))
                    continue
                if kind is None:
                    continue
                known = seen.setdefault(name, kind)
                if known != kind:
                    expected = f"expected a {known} (the property's type), got a {kind}"
                    out.append((pos, where, expected))
        return out

    def grow(self, n: int) -> None:
        """Make room for a catalog of ``n`` items (new items have no values)."""
        if n > self.n:
            self.n = n
            self.version += 1

    def set(self, idx: np.ndarray, items: Sequence[Item]) -> None:
        """Write the properties of upserted items (replacing all of their old values).
        A value whose type differs from the property's is left out."""
        idx = np.asarray(idx, dtype=np.int64)
        if len(idx) == 0:
            return
        self.grow(int(idx.max()) + 1)
        for col in self.columns.values():  # an upsert replaces every value of the item
            _resize(col, self.n)
            _clear(col, idx)
        for j, item in zip(idx.tolist(), items, strict=True):
            for name, value in built_in_values(item).items():
                if value is not None:
                    _put(self.column(name), j, value)
            for name, value in item.attributes.items():
                if name in BUILT_IN:
                    continue
                try:
                    kind = kind_of(value)
                except PropertyError:
                    continue
                if kind is None:
                    continue
                if name not in self.kinds:
                    self.kinds[name] = kind
                    self.schema_version += 1
                if self.kinds[name] == kind:
                    _put(self.column(name), j, value)
        self.version += 1

    def value(self, name: str, idx: int) -> object:
        """One item's value of a property (None when missing or unknown)."""
        if name not in self.kinds:
            return None
        return self.column(name).value_at(idx)


def _empty(kind: Kind, n: int) -> Column:
    if kind == "string":
        return Column(kind, np.full(n, -1, np.int32))
    if kind == "strings":
        return Column(kind, np.zeros(0), lists=[()] * n)
    return Column(kind, np.full(n, np.nan))


def _resize(col: Column, n: int) -> None:
    if col.kind == "strings":
        if len(col.lists) < n:
            col.lists.extend([()] * (n - len(col.lists)))
        return
    have = len(col.values)
    if have < n:
        fill = -1 if col.kind == "string" else np.nan
        grown = np.full(max(n, 2 * have), fill, dtype=col.values.dtype)
        grown[:have] = col.values
        col.values = grown


def _clear(col: Column, idx: np.ndarray) -> None:
    if col.kind == "strings":
        for j in idx.tolist():
            col.lists[j] = ()
        col._inverted = None
    else:
        col.values[idx] = -1 if col.kind == "string" else np.nan


def _put(col: Column, j: int, value: object) -> None:
    if col.kind == "strings":
        assert isinstance(value, list | tuple)
        col.lists[j] = tuple(dict.fromkeys(value))
        col._inverted = None
    elif col.kind == "string":
        col.values[j] = col.vocab.setdefault(str(value), len(col.vocab))
    elif col.kind == "datetime":
        col.values[j] = value if isinstance(value, int | float) else parse_datetime(str(value))
    else:
        col.values[j] = float(value)  # type: ignore[arg-type]
