"""Popularity: scores are training interaction counts, for everyone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pulserec.events.interactions import Interactions
from pulserec.models.popularity import Popularity


def interactions() -> Interactions:
    # Item "c" has 3 users, "a" 2, "b" 1; the duplicate (u1, c) counts once.
    events = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u2", "u3", "u1", "u3"],
            "item_id": ["a", "c", "c", "b", "c", "c", "a"],
            "timestamp": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
        }
    )
    return Interactions.from_events(events)


def test_scores_are_counts_of_distinct_users() -> None:
    inter = interactions()
    model = Popularity().fit(inter)
    want = np.zeros(inter.n_items, dtype=np.float32)
    want[inter.items.lookup(["a", "b", "c"])] = [2, 1, 3]
    np.testing.assert_array_equal(model.score([0, 1, 2]), np.tile(want, (3, 1)))
    np.testing.assert_array_equal(model.score([-1])[0], want)


def test_recommend_filters_each_users_own_history() -> None:
    inter = interactions()
    model = Popularity().fit(inter)
    a, b, c = inter.items.lookup(["a", "b", "c"]).tolist()
    u2 = inter.users.idx("u2")  # has b and c
    ids, scores = model.recommend([u2], 3)
    assert ids[0, 0] == a and scores[0, 0] == 2
    assert np.isneginf(scores[0, 1:]).all()
    ids, _ = model.recommend([-1], 3)
    assert ids[0].tolist() == [c, a, b]


def test_fold_in_history_only_filters() -> None:
    inter = interactions()
    model = Popularity().fit(inter)
    a, b, c = inter.items.lookup(["a", "b", "c"]).tolist()
    row = sp.csr_matrix(([1.0], ([0], [c])), shape=(1, inter.n_items))
    ids, _ = model.recommend([-1], 2, user_items=row)
    assert ids[0].tolist() == [a, b]


def test_has_no_hyperparameters() -> None:
    assert Popularity().get_params() == {}
    assert repr(Popularity()) == "Popularity()"
