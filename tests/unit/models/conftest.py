"""Builds Interactions whose dense indices equal the rows and columns of a given matrix."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from pulserec.catalog.idmap import IdMap
from pulserec.events.interactions import Interactions


def interactions_from_matrix(matrix: np.ndarray | sp.spmatrix) -> Interactions:
    """User ``u{r}`` interacted with item ``i{c}`` wherever ``matrix[r, c]`` is nonzero."""
    dense = np.asarray(matrix.toarray() if sp.issparse(matrix) else matrix)
    rows, cols = dense.nonzero()
    events = pd.DataFrame(
        {
            "user_id": [f"u{r}" for r in rows],
            "item_id": [f"i{c}" for c in cols],
            "timestamp": np.arange(len(rows), dtype=float),
        }
    )
    users = IdMap(f"u{r}" for r in range(dense.shape[0]))
    items = IdMap(f"i{c}" for c in range(dense.shape[1]))
    return Interactions.from_events(events, users, items)


@pytest.fixture
def from_matrix() -> Callable[[np.ndarray | sp.spmatrix], Interactions]:
    return interactions_from_matrix
