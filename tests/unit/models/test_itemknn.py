"""ItemKNN: shrunk cosine similarity, per-item top-k, sums over the history."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse as sp

from pulserec.events.interactions import Interactions
from pulserec.models.itemknn import ItemKNN, cosine_topk

FromMatrix = Callable[[np.ndarray], Interactions]

# users x items:  i0 i1 i2
X = sp.csr_matrix(
    np.array(
        [
            [1, 1, 0],  # u0
            [1, 1, 1],  # u1
            [1, 0, 1],  # u2
            [0, 1, 0],  # u3
        ],
        dtype=np.float32,
    )
)
# Norms: |i0| = |i1| = sqrt(3), |i2| = sqrt(2). Co-counts: (0,1) = 2, (0,2) = 2, (1,2) = 1.
SIM01_SHRINK1 = 2 / (3 + 1)
SIM02_SHRINK1 = 2 / (math.sqrt(6) + 1)
SIM12_SHRINK1 = 1 / (math.sqrt(6) + 1)


def test_full_similarity_by_hand_with_shrinkage() -> None:
    sim = cosine_topk(X, k_neighbors=5, shrink=1.0).toarray()
    want = np.array(
        [
            [0.0, SIM01_SHRINK1, SIM02_SHRINK1],
            [SIM01_SHRINK1, 0.0, SIM12_SHRINK1],
            [SIM02_SHRINK1, SIM12_SHRINK1, 0.0],
        ]
    )
    np.testing.assert_allclose(sim, want, rtol=1e-6)


def test_top1_keeps_each_items_best_neighbour_in_its_column() -> None:
    sim = cosine_topk(X, k_neighbors=1, shrink=1.0).toarray()
    # i0's best is i2 (.580 > .5), i1's best is i0 (.5 > .290), i2's best is i0.
    want = np.zeros((3, 3))
    want[2, 0] = SIM02_SHRINK1
    want[0, 1] = SIM01_SHRINK1
    want[0, 2] = SIM02_SHRINK1
    np.testing.assert_allclose(sim, want, rtol=1e-6)


def test_without_shrink_it_is_plain_cosine() -> None:
    sim = cosine_topk(X, k_neighbors=2, shrink=0.0).toarray()
    assert sim[0, 1] == pytest.approx(2 / 3)
    assert sim[1, 2] == pytest.approx(1 / math.sqrt(6))


def test_blocks_give_the_same_matrix_as_one_pass() -> None:
    rng = np.random.default_rng(0)
    big = sp.csr_matrix((rng.random((50, 37)) < 0.2).astype(np.float32))
    one = cosine_topk(big, 5, 2.0)
    # 8 bytes x 37 items per row: a budget of 3 rows forces 13 blocks.
    blocked = cosine_topk(big, 5, 2.0, block_bytes=8 * 37 * 3)
    np.testing.assert_array_equal(one.toarray(), blocked.toarray())
    assert (np.diff(one.tocsc().indptr) <= 5).all()


def test_item_nobody_touched_has_no_neighbours_and_no_nan() -> None:
    with_empty = sp.hstack([X, sp.csr_matrix((4, 1), dtype=np.float32)]).tocsr()
    sim = cosine_topk(with_empty, 3, 0.0).toarray()
    assert np.isfinite(sim).all()
    assert not sim[3].any() and not sim[:, 3].any()


def test_score_sums_history_similarities(from_matrix: FromMatrix) -> None:
    model = ItemKNN(k_neighbors=1, shrink=1.0).fit(from_matrix(X))
    # u2 has i0 and i2; with top-1 columns: i0 gets S[2,0], i1 gets S[0,1], i2 gets S[0,2].
    np.testing.assert_allclose(
        model.score([2])[0], [SIM02_SHRINK1, SIM01_SHRINK1, SIM02_SHRINK1], rtol=1e-6
    )
    ids, _ = model.recommend([2], 1)
    assert ids[0].tolist() == [1]


def test_bad_hyperparameters_fail_at_fit(from_matrix: FromMatrix) -> None:
    with pytest.raises(ValueError, match="k_neighbors"):
        ItemKNN(k_neighbors=0).fit(from_matrix(X))
    with pytest.raises(ValueError, match="shrink"):
        ItemKNN(shrink=-1.0).fit(from_matrix(X))
