"""The item catalogue: items, their text and their dense indices."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pulserec.catalog.idmap import IdMap
from pulserec.events.base import ITEM_COLUMNS
from pulserec.types import Item


class Catalog:
    """Items addressed by raw ``item_id`` or by dense index, in insertion order.

    Indices come from an :class:`~pulserec.catalog.idmap.IdMap` and never change:
    :meth:`upsert` replaces an existing item in place and appends new ones.

    Examples
    --------
    >>> cat = Catalog()
    >>> cat.upsert([Item("a", title="A", categories=("x",)), Item("b")]).tolist()
    [0, 1]
    >>> cat.ensure(["b", "c"]).tolist()
    [1, 2]
    >>> cat.get("a").title, cat.idx("c"), len(cat), "zz" in cat
    ('A', 2, 3, False)
    """

    def __init__(self, items: Iterable[Item] = ()) -> None:
        self._ids = IdMap()
        self._items: list[Item] = []
        self.upsert(items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._ids

    def __iter__(self) -> Iterator[Item]:
        """Items in index order."""
        return iter(self._items)

    def __repr__(self) -> str:
        return f"Catalog(n_items={len(self)})"

    @property
    def id_map(self) -> IdMap:
        """The raw id <-> index map (shared, not a copy: grow it only through the catalog)."""
        return self._ids

    def upsert(self, items: Iterable[Item]) -> np.ndarray:
        """Add new items and replace known ones (same id).

        Returns
        -------
        ndarray of int64
            The index of each given item.
        """
        items = list(items)
        for item in items:
            if not isinstance(item, Item):
                raise TypeError(f"expected pulserec.types.Item, got {type(item).__name__}")
        indices = self._ids.add(item.item_id for item in items)
        for idx, item in zip(indices.tolist(), items, strict=True):
            if idx == len(self._items):
                self._items.append(item)
            else:
                self._items[idx] = item
        return indices

    def ensure(self, item_ids: Iterable[str]) -> np.ndarray:
        """Add a bare item (no title, no text) for each unknown id; known ones are untouched.

        For items that appear only in events.

        Returns
        -------
        ndarray of int64
            The index of each given id.
        """
        item_ids = list(item_ids)
        # Build (and so validate) every new item before the id map grows.
        new = [Item(item_id) for item_id in dict.fromkeys(item_ids) if item_id not in self._ids]
        self.upsert(new)
        return self._ids.lookup(item_ids)

    def at(self, idx: int) -> Item:
        """The item at a dense index; ``IndexError`` naming the index when out of range."""
        if not 0 <= idx < len(self._items):
            raise IndexError(f"item index {idx} out of range 0..{len(self._items) - 1}")
        return self._items[idx]

    def get(self, item_id: str) -> Item:
        """The item with this id; ``KeyError`` naming the id when unknown."""
        return self._items[self.idx(item_id)]

    def idx(self, item_id: str) -> int:
        """The dense index of a known id; ``KeyError`` naming the id when unknown."""
        try:
            return self._ids.idx(item_id)
        except KeyError:
            raise KeyError(f"unknown item id {item_id!r}") from None

    def item_ids(self) -> list[str]:
        """Raw ids in index order."""
        return self._ids.to_list()

    def texts(self) -> list[str]:
        """Each item's text in index order (``""`` for items without text)."""
        return [item.text for item in self._items]

    def categories_matrix(self) -> tuple[sp.csr_matrix, list[str]]:
        """Binary item x category matrix.

        Returns
        -------
        matrix : scipy.sparse.csr_matrix, shape (n_items, n_categories), float32
            1.0 where the item has the category.
        names : list of str
            Category names (sorted), one per column.

        Examples
        --------
        >>> cat = Catalog([Item("a", categories=("y", "x")), Item("b", categories=("y",))])
        >>> m, names = cat.categories_matrix()
        >>> names, m.toarray().tolist()
        (['x', 'y'], [[1.0, 1.0], [0.0, 1.0]])
        """
        names = sorted({c for item in self._items for c in item.categories})
        column = {name: j for j, name in enumerate(names)}
        cols = [[column[c] for c in dict.fromkeys(item.categories)] for item in self._items]
        lengths = np.fromiter((len(c) for c in cols), dtype=np.int64, count=len(cols))
        indptr = np.zeros(len(cols) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        indices = np.fromiter((j for c in cols for j in c), dtype=np.int64, count=int(indptr[-1]))
        data = np.ones(len(indices), dtype=np.float32)
        matrix = sp.csr_matrix((data, indices, indptr), shape=(len(self._items), len(names)))
        matrix.sort_indices()
        return matrix, names

    @classmethod
    def from_frame(cls, items: pd.DataFrame) -> Catalog:
        """Build from an item frame with :data:`~pulserec.events.base.ITEM_COLUMNS`.

        Only ``item_id`` is required; missing columns get the :class:`Item`
        defaults. A NaN ``created_at`` becomes ``None``.
        """
        if "item_id" not in items.columns:
            raise ValueError(f"item frame lacks column 'item_id'; it has {list(items.columns)}")
        n = len(items)

        def column(name: str, default: Any) -> list[Any]:
            if name in items.columns:
                return items[name].tolist()
            return [default] * n

        catalog = cls()
        catalog.upsert(
            Item(
                item_id=str(item_id),
                title=_text(title),
                text=_text(text),
                categories=tuple(str(c) for c in categories) if _present(categories) else (),
                attributes=dict(attributes) if _present(attributes) else {},
                created_at=_time(created_at),
            )
            for item_id, title, text, categories, attributes, created_at in zip(
                column("item_id", None),
                column("title", ""),
                column("text", ""),
                column("categories", ()),
                column("attributes", {}),
                column("created_at", None),
                strict=True,
            )
        )
        return catalog

    def to_frame(self) -> pd.DataFrame:
        """The items as a frame with :data:`~pulserec.events.base.ITEM_COLUMNS`, in index order."""
        items = self._items
        return pd.DataFrame(
            {
                "item_id": pd.Series([i.item_id for i in items], dtype="str"),
                "title": pd.Series([i.title for i in items], dtype="str"),
                "text": pd.Series([i.text for i in items], dtype="str"),
                "categories": pd.Series([i.categories for i in items], dtype=object),
                "attributes": pd.Series([dict(i.attributes) for i in items], dtype=object),
                "created_at": np.asarray(
                    [np.nan if i.created_at is None else i.created_at for i in items],
                    dtype=np.float64,
                ),
            },
            columns=list(ITEM_COLUMNS),
        )


def _present(value: Any) -> bool:
    """False for None / NaN (a missing cell of an object column)."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _text(value: Any) -> str:
    return str(value) if _present(value) else ""


def _time(value: Any) -> float | None:
    if not _present(value):
        return None
    return float(value)
