"""Two-way maps between raw string ids and dense integer indices."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class IdMap:
    """Assigns dense indices ``0..n-1`` to raw ids in first-seen order.

    Lookups of unknown ids never add them: :meth:`idx` raises, :meth:`lookup`
    returns ``-1``. Only :meth:`add` grows the map.

    Examples
    --------
    >>> m = IdMap(["a", "b"])
    >>> m.add(["b", "c"]).tolist()
    [1, 2]
    >>> m.lookup(["c", "zz"]).tolist()
    [2, -1]
    >>> m.ids([0, 2]).tolist()
    ['a', 'c']
    """

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._index: dict[str, int] = {}
        self._ids: list[str] = []
        self.add(ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, raw_id: object) -> bool:
        return raw_id in self._index

    def add(self, ids: Iterable[str]) -> np.ndarray:
        """Add ids not seen yet; return the indices of all given ids."""
        out = []
        for raw in ids:
            idx = self._index.get(raw)
            if idx is None:
                idx = len(self._ids)
                self._index[raw] = idx
                self._ids.append(raw)
            out.append(idx)
        return np.asarray(out, dtype=np.int64)

    def idx(self, raw_id: str) -> int:
        """The index of one known id; ``KeyError`` naming the id when unknown."""
        try:
            return self._index[raw_id]
        except KeyError:
            raise KeyError(f"unknown id {raw_id!r}") from None

    def lookup(self, ids: Iterable[str]) -> np.ndarray:
        """Indices of many ids, ``-1`` for unknown ones."""
        get = self._index.get
        return np.fromiter((get(r, -1) for r in ids), dtype=np.int64)

    def ids(self, indices: Iterable[int] | np.ndarray) -> np.ndarray:
        """Raw ids of the given indices, as an object array."""
        ids = self._ids  # index the list: converting all ids per call costs O(n)
        return np.array([ids[i] for i in np.asarray(indices, dtype=np.int64).ravel()], dtype=object)

    def to_list(self) -> list[str]:
        return list(self._ids)
