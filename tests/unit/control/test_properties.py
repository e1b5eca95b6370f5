"""Typed item properties and their columns."""

from __future__ import annotations

import numpy as np
import pytest

from pulserec.control.properties import Properties, PropertyError, kind_of, parse_datetime
from pulserec.types import Item


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (3, "number"), (2.5, "number"), (False, "bool"), ("red", "string"),
        (["s", "m"], "strings"), ([], "strings"), ("2026-01-05", "datetime"),
        ("2026-01-05T10:00:00Z", "datetime"), ("2026-01-05T10:00+02:00", "datetime"),
        (None, None),
    ],
)  # fmt: skip
def test_kind_of_each_type(value: object, kind: str | None) -> None:
    assert kind_of(value) == kind


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1, 2], "a list must hold strings only, got int"),
        ({"a": 1}, "expected a number, bool, string, list of strings or ISO 8601 datetime"),
        ("2026-01-05T10:00:00", "a datetime needs a timezone"),
        ("2026-02-30", "not a valid date or datetime"),
        (float("nan"), "must be a finite number"),
    ],
)
def test_kind_of_refuses_what_it_cannot_type(value: object, message: str) -> None:
    with pytest.raises(PropertyError, match=message):
        kind_of(value)


def test_datetimes_are_seconds_since_the_epoch() -> None:
    assert parse_datetime("1970-01-02") == 86_400.0
    assert parse_datetime("1970-01-01T01:00:00+01:00") == 0.0
    assert parse_datetime("1970-01-01T00:00:01.5Z") == 1.5


def shop() -> list[Item]:
    return [
        Item("a", "A", categories=("tea", "green"), created_at=100.0,
             attributes={"price": 5, "stock": True, "brand": "acme", "sizes": ["s", "m"],
                         "launch": "1970-01-02"}),
        Item("b", "B", categories=("coffee",), attributes={"price": 50.5, "brand": "zen"}),
        Item("c", attributes={"brand": "acme", "stock": False, "sizes": ["m"]}),
    ]  # fmt: skip


def test_columns_hold_each_type_with_missing_values() -> None:
    props = Properties()
    props.set(np.arange(3), shop())
    price = props.column("price").values[:3]
    assert price[:2].tolist() == [5.0, 50.5] and np.isnan(price[2])
    assert props.kinds["launch"] == "datetime" and props.column("launch").values[0] == 86_400
    brand = props.column("brand")
    assert brand.values[:3].tolist() == [0, 1, 0] and brand.vocab == {"acme": 0, "zen": 1}
    assert props.column("sizes").contains(["m"]).tolist() == [True, False, True]
    assert props.column("sizes").contains(["s", "xl"]).tolist() == [True, False, False]
    assert props.column("categories").contains(["coffee"]).tolist() == [False, True, False]
    assert props.value("category", 0) == "tea" and props.value("category", 2) is None
    assert props.value("created_at", 0) == 100.0 and props.value("stock", 2) is False
    assert props.value("id", 1) == "b" and props.value("nope", 0) is None


def test_an_upsert_replaces_every_old_value() -> None:
    props = Properties()
    props.set(np.arange(3), shop())
    version = props.version
    props.set(np.array([0]), [Item("a", attributes={"price": 7})])
    assert props.value("price", 0) == 7.0 and props.value("brand", 0) is None
    assert props.column("sizes").contains(["s"]).tolist() == [False, False, False]
    assert props.version > version


def test_new_items_grow_every_column() -> None:
    props = Properties()
    props.set(np.arange(3), shop())
    props.grow(5)
    props.set(np.array([4]), [Item("e", attributes={"price": 1, "sizes": ["xl"]})])
    price = props.column("price").values[:5]
    assert np.isnan(price[3]) and price[4] == 1.0
    assert props.column("sizes").contains(["xl"]).tolist() == [False] * 4 + [True]
    assert props.value("brand", 3) is None


def test_conflicts_name_the_field_and_the_expected_type() -> None:
    props = Properties()
    props.set(np.arange(3), shop())
    bad = [
        Item("x", attributes={"price": "cheap"}),
        Item("y", attributes={"colour": "red", "tags": [1]}),
        Item("z", attributes={"colour": 3, "id": "mine", "price": None}),
    ]
    assert props.conflicts(bad) == [
        (0, "attributes.price", "expected a number (the property's type), got a string"),
        (1, "attributes.tags", "a list must hold strings only, got int"),
        (2, "attributes.colour", "expected a string (the property's type), got a number"),
        (2, "attributes.id", "'id' is a built-in property; use another name"),
    ]
    assert props.conflicts(shop()) == []


def test_a_value_of_another_type_is_left_out_when_loading() -> None:
    props = Properties()
    props.set(np.arange(2), [Item("a", attributes={"price": 5}),
                             Item("b", attributes={"price": "n/a"})])  # fmt: skip
    assert props.value("price", 0) == 5.0 and props.value("price", 1) is None
