"""Most-popular items: the non-personalised baseline and every model's fallback."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from pulserec.events.interactions import Interactions
from pulserec.models.base import Recommender


class Popularity(Recommender):
    """Scores each item by the number of training users who interacted with it.

    Every user, known or new, gets the same scores; ``filter_seen`` in
    :meth:`~pulserec.models.base.Recommender.recommend` still removes each
    user's own history.

    Examples
    --------
    >>> import pandas as pd
    >>> from pulserec.events.interactions import Interactions
    >>> events = pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["x", "y", "y"],
    ...                        "timestamp": [1.0, 2.0, 3.0]})
    >>> model = Popularity().fit(Interactions.from_events(events))
    >>> model.score([0]).tolist()
    [[1.0, 2.0]]
    """

    name: ClassVar[str] = "pop"
    param_grid: ClassVar[dict[str, list[Any]]] = {}

    def _fit(self, train: Interactions) -> None:
        # The base class already counted ``item_popularity_``: nothing else to learn.
        pass

    def _score(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.item_popularity_, (len(user_idx), self.n_items_)).astype(
            np.float32
        )
