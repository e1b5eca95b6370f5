"""The user x item interaction matrix models are fitted on."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pulserec.catalog.idmap import IdMap
from pulserec.types import NEGATIVE_TYPES


@dataclass
class Interactions:
    """Positive interactions as a binary CSR matrix plus the id maps behind it.

    The id maps usually span the whole dataset, so the train, validation and
    test parts of one split share one index space.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix, shape (n_users, n_items), float32
        1.0 where the user interacted with the item.
    users, items : IdMap
    user_idx, item_idx, timestamp : ndarray
        The underlying events in time order (duplicates kept), for models
        that read sequences.
    item_vectors : ndarray (n_items, dim), optional
        Text embeddings of the items, one row per item index, for models that
        read item content (attach with :meth:`with_item_vectors`).
    """

    matrix: sp.csr_matrix
    users: IdMap
    items: IdMap
    user_idx: np.ndarray
    item_idx: np.ndarray
    timestamp: np.ndarray
    item_vectors: np.ndarray | None = None

    def with_item_vectors(self, vectors: np.ndarray) -> Interactions:
        """The same interactions carrying item embeddings aligned with ``items``."""
        if vectors.shape[0] != self.n_items:
            raise ValueError(
                f"vectors: {vectors.shape[0]} rows for {self.n_items} items; align them with items"
            )
        return replace(self, item_vectors=np.asarray(vectors, dtype=np.float32))

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def nnz(self) -> int:
        return int(self.matrix.nnz)

    @classmethod
    def from_events(
        cls,
        events: pd.DataFrame,
        users: IdMap | None = None,
        items: IdMap | None = None,
        *,
        positive_only: bool = True,
    ) -> Interactions:
        """Build from an event frame.

        Ids missing from given maps are added to them. Negative event types
        (dislike, skip, bare impressions) are left out when ``positive_only``.
        """
        users = IdMap() if users is None else users
        items = IdMap() if items is None else items
        ev = events
        if positive_only and "type" in ev.columns:
            ev = ev[~ev["type"].isin(NEGATIVE_TYPES)]
        ev = ev[ev["item_id"].notna()]
        order = np.argsort(ev["timestamp"].to_numpy(dtype=np.float64), kind="stable")
        ev = ev.iloc[order]
        u = users.add(ev["user_id"].astype(str).tolist())
        i = items.add(ev["item_id"].astype(str).tolist())
        ts = ev["timestamp"].to_numpy(dtype=np.float64)
        matrix = sp.csr_matrix(
            (np.ones(len(u), dtype=np.float32), (u, i)), shape=(len(users), len(items))
        )
        matrix.sum_duplicates()
        matrix.data[:] = 1.0
        return cls(matrix, users, items, u, i, ts)

    def with_shape(self, n_users: int, n_items: int) -> Interactions:
        """The same interactions padded to a larger index space."""
        m = self.matrix.tocoo()
        matrix = sp.csr_matrix((m.data, (m.row, m.col)), shape=(n_users, n_items))
        return Interactions(
            matrix, self.users, self.items, self.user_idx, self.item_idx, self.timestamp
        )
