"""Catalog: ids, upserts, bare items, frames and the category matrix."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pulserec.catalog import Catalog
from pulserec.events import ITEM_COLUMNS
from pulserec.types import Item, ValidationError


def _catalog() -> Catalog:
    return Catalog(
        [
            Item("a", title="Alpha", text="alpha text", categories=("news", "sports")),
            Item("b", title="Beta", text="beta text", categories=("sports",)),
            Item("c", title="Gamma", categories=()),
        ]
    )


def test_ids_and_lookup() -> None:
    cat = _catalog()
    assert len(cat) == 3
    assert "b" in cat
    assert "z" not in cat
    assert cat.idx("c") == 2
    assert cat.get("b").title == "Beta"
    assert cat.item_ids() == ["a", "b", "c"]
    assert [item.item_id for item in cat] == ["a", "b", "c"]
    with pytest.raises(KeyError, match="unknown item id 'z'"):
        cat.get("z")
    with pytest.raises(KeyError, match="unknown item id 'z'"):
        cat.idx("z")
    assert "z" not in cat  # lookups never add


def test_upsert_replaces_in_place_and_appends() -> None:
    cat = _catalog()
    idx = cat.upsert([Item("d", title="Delta"), Item("b", title="Beta 2"), Item("d", title="D2")])
    assert idx.dtype == np.int64
    assert idx.tolist() == [3, 1, 3]
    assert len(cat) == 4
    assert cat.get("b").title == "Beta 2"
    assert cat.get("d").title == "D2"  # the last of repeated ids wins
    with pytest.raises(TypeError, match=r"expected pulserec\.types\.Item"):
        cat.upsert(["e"])  # type: ignore[list-item]


def test_ensure_adds_bare_items_only_for_unknown_ids() -> None:
    cat = _catalog()
    idx = cat.ensure(["b", "x", "y", "x"])
    assert idx.tolist() == [1, 3, 4, 3]
    assert cat.get("b").title == "Beta"
    assert cat.get("x") == Item("x")
    assert len(cat) == 5
    with pytest.raises(ValidationError, match="item_id"):
        cat.ensure(["ok", ""])
    assert len(cat) == 5
    assert "ok" not in cat


def test_texts_in_index_order() -> None:
    cat = _catalog()
    cat.ensure(["d"])
    assert cat.texts() == ["alpha text", "beta text", "", ""]


def test_categories_matrix() -> None:
    cat = _catalog()
    cat.upsert([Item("d", categories=("arts", "news", "arts"))])
    matrix, names = cat.categories_matrix()
    assert names == ["arts", "news", "sports"]
    assert matrix.format == "csr"
    assert matrix.dtype == np.float32
    assert matrix.shape == (4, 3)
    assert matrix.toarray().tolist() == [
        [0.0, 1.0, 1.0],
        [0.0, 0.0, 1.0],
        [0.0, 0.0, 0.0],
        [1.0, 1.0, 0.0],
    ]


def test_categories_matrix_of_empty_catalog() -> None:
    matrix, names = Catalog().categories_matrix()
    assert matrix.shape == (0, 0)
    assert names == []


def test_frame_round_trip() -> None:
    cat = Catalog(
        [
            Item("a", title="A", text="t", categories=("x",), attributes={"k": [1]},
                 created_at=5.0),
            Item("b"),
        ]
    )
    frame = cat.to_frame()
    assert list(frame.columns) == list(ITEM_COLUMNS)
    assert str(frame["item_id"].dtype) == "str"
    assert frame["created_at"].iloc[0] == 5.0
    assert math.isnan(frame["created_at"].iloc[1])
    back = Catalog.from_frame(frame)
    assert list(back) == list(cat)
    assert back.get("b").created_at is None


def test_from_frame_needs_only_item_ids() -> None:
    cat = Catalog.from_frame(pd.DataFrame({"item_id": ["p", "q"], "title": ["P", None]}))
    assert list(cat) == [Item("p", title="P"), Item("q")]
    with pytest.raises(ValueError, match="lacks column 'item_id'"):
        Catalog.from_frame(pd.DataFrame({"title": ["x"]}))
