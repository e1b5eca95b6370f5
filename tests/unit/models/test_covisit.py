import numpy as np
import pytest
import scipy.sparse as sp

from pulserec.models.covisit import covisitation, last_items, row_top_n


def test_pairs_are_weighted_by_distance_and_direction() -> None:
    # one user: 0 -> 1 -> 2 (times 1, 2, 3)
    c = covisitation(
        np.array([0, 0, 0]), np.array([0, 1, 2]), np.array([1.0, 2.0, 3.0]), 3,
        window=2, backward_weight=0.5, normalize=0.0,
    )  # fmt: skip
    dense = c.toarray()
    assert dense[0, 1] == pytest.approx(1.0)  # 1 follows 0 directly
    assert dense[1, 0] == pytest.approx(0.5)  # backward evidence
    assert dense[0, 2] == pytest.approx(0.5)  # two steps: 1/2
    assert dense[2, 0] == pytest.approx(0.25)
    assert np.all(np.diag(dense) == 0)


def test_users_and_session_gaps_separate_sequences() -> None:
    users = np.array([0, 0, 1, 1])
    items = np.array([0, 1, 2, 3])
    ts = np.array([0.0, 10_000.0, 0.0, 5.0])
    c = covisitation(users, items, ts, 4, window=3, max_gap_s=60, normalize=0.0).toarray()
    assert c[0, 1] == 0.0  # same user but hours apart
    assert c[2, 3] == pytest.approx(1.0)
    assert c[1, 2] == 0.0  # different users never pair


def test_normalisation_divides_by_popularity() -> None:
    users = np.array([0, 0, 1, 1, 2, 2])
    items = np.array([0, 1, 0, 2, 0, 2])
    ts = np.arange(6.0)
    c = covisitation(users, items, ts, 3, window=1, backward_weight=1.0, normalize=0.5).toarray()
    # item counts 0:3, 1:1, 2:2 ; raw c[0,2] = 2, c[0,1] = 1
    assert c[0, 2] == pytest.approx(2 / np.sqrt(3 * 2))
    assert c[0, 1] == pytest.approx(1 / np.sqrt(3 * 1))


def test_row_top_n_keeps_the_largest() -> None:
    m = sp.csr_matrix(np.array([[0.1, 0.5, 0.3, 0.9], [0.2, 0.0, 0.0, 0.0]]))
    kept = row_top_n(m, 2).toarray()
    assert kept[0].tolist() == [0.0, 0.5, 0.0, 0.9]
    assert kept[1].tolist() == [0.2, 0.0, 0.0, 0.0]


def test_last_items_newest_first() -> None:
    from pulserec.catalog.idmap import IdMap
    from pulserec.events.interactions import Interactions

    inter = Interactions(
        sp.csr_matrix((2, 5)), IdMap(["a", "b"]), IdMap(list("vwxyz")),
        np.array([0, 0, 0, 1]), np.array([4, 2, 3, 1]), np.array([1.0, 2.0, 3.0, 1.0]),
    )  # fmt: skip
    assert last_items(inter, 3, 2).tolist() == [[3, 2], [1, -1], [-1, -1]]
