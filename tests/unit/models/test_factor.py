"""ALS and BPR: implicit's fit, our fold-in, the BPR popularity correction."""

from __future__ import annotations

from collections.abc import Callable

import implicit.utils
import numpy as np
import pytest
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from threadpoolctl import threadpool_limits

from pulserec.events.interactions import Interactions
from pulserec.models.factor import ALS, BPR, als_fold_in

FromMatrix = Callable[[np.ndarray], Interactions]

RNG = np.random.default_rng(7)
TRAIN = (RNG.random((30, 12)) < 0.35).astype(np.float32)
TRAIN[0, :] = 0.0  # a user with no history
TRAIN[:, 11] = 0.0  # an item nobody touched


def als_user_by_hand(
    y: np.ndarray, row: np.ndarray, regularization: float, alpha: float
) -> np.ndarray:
    """Hu et al.'s weighted ridge with implicit's confidences, written out densely."""
    c = alpha * row
    observed = row != 0
    confidence = np.where(observed, np.abs(c), 1.0)
    preference = (c > 0).astype(float)
    a = y.T @ np.diag(confidence) @ y + regularization * np.eye(y.shape[1])
    return np.linalg.solve(a, y.T @ (confidence * preference))


def test_als_fold_in_solves_the_weighted_ridge_exactly() -> None:
    y = RNG.normal(size=(7, 3))
    rows = np.array(
        [
            [1, 0, 1, 0, 0, 0, 0],
            [0, 2, 0, 0, 1, 0, 0],
            [0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, -1, 0, 1, 0],  # a negative entry is a confident "no"
        ],
        dtype=np.float64,
    )
    got = als_fold_in(y, sp.csr_matrix(rows), regularization=0.5, alpha=3.0)
    want = np.stack([als_user_by_hand(y, r, 0.5, 3.0) for r in rows])
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not got[2].any()
    # A budget below one user's outer products solves one user per chunk.
    chunked = als_fold_in(y, sp.csr_matrix(rows), 0.5, 3.0, chunk_bytes=1)
    np.testing.assert_array_equal(chunked, got)
    # An explicitly stored zero is no interaction.
    r, c = rows.nonzero()
    with_zero = sp.csr_matrix(
        (np.r_[rows[r, c], 0.0], (np.r_[r, 0], np.r_[c, 6])), shape=rows.shape
    )
    assert with_zero.nnz == len(r) + 1
    np.testing.assert_array_equal(als_fold_in(y, with_zero, 0.5, 3.0), got)


def test_als_matches_implicit_and_scores_new_users_by_fold_in(from_matrix: FromMatrix) -> None:
    params = {"n_factors": 4, "regularization": 0.3, "alpha": 2.0, "n_epochs": 5}
    model = ALS(**params, random_state=3).fit(from_matrix(TRAIN))
    with threadpool_limits(1, "blas"):
        ref = AlternatingLeastSquares(
            factors=4, regularization=0.3, alpha=2.0, iterations=5, random_state=3
        )
        ref.fit(sp.csr_matrix(TRAIN), show_progress=False)
    np.testing.assert_array_equal(model.user_factors_, ref.user_factors)
    np.testing.assert_array_equal(model.item_factors_, ref.item_factors)
    assert model.user_factors_.dtype == model.item_factors_.dtype == np.float32
    v = model.item_factors_.astype(np.float64)
    np.testing.assert_allclose(
        model.score([5])[0], model.user_factors_[5] @ v.T, rtol=1e-5, atol=1e-6
    )
    history = np.zeros(12)
    history[[1, 4, 6]] = 1.0
    x = als_user_by_hand(v, history, 0.3, 2.0)
    got = model.score([-1], sp.csr_matrix(history[None, :]))[0]
    np.testing.assert_allclose(got, x @ v.T, rtol=1e-4, atol=1e-5)


def test_bpr_is_implicits_model_plus_log_count_bias(from_matrix: FromMatrix) -> None:
    params = {"n_factors": 5, "learning_rate": 0.05, "regularization": 0.01, "n_epochs": 20}
    model = BPR(**params, random_state=11).fit(from_matrix(TRAIN))
    plain = BPR(**params, popularity_correction=0.0, random_state=11).fit(from_matrix(TRAIN))
    with threadpool_limits(1, "blas"):
        ref = BayesianPersonalizedRanking(
            factors=5,
            learning_rate=0.05,
            regularization=0.01,
            iterations=20,
            random_state=11,
            num_threads=1,
        )
        ref.fit(sp.csr_matrix(TRAIN), show_progress=False)
    np.testing.assert_array_equal(plain.item_factors_, ref.item_factors)
    np.testing.assert_array_equal(model.user_factors_, ref.user_factors)
    assert (model.user_factors_[:, -1] == 1.0).all()
    np.testing.assert_array_equal(model.item_factors_[:, :-1], ref.item_factors[:, :-1])
    counts = TRAIN.sum(axis=0)
    want_bias = ref.item_factors[:, -1] + np.log(np.maximum(counts, 1.0))
    np.testing.assert_allclose(model.item_factors_[:, -1], want_bias, rtol=1e-6)
    # The bias reaches the scores through the constant 1 of the user vector.
    u = model.user_factors_[3].astype(np.float64)
    np.testing.assert_allclose(
        model.score([3])[0], u @ model.item_factors_.T.astype(np.float64), rtol=1e-5, atol=1e-6
    )


def test_bpr_fold_in_maps_the_history_mean(from_matrix: FromMatrix) -> None:
    model = BPR(n_factors=3, n_epochs=10, random_state=0).fit(from_matrix(TRAIN))
    v = model.item_factors_.astype(np.float64)
    k = v.shape[1] - 1
    counts = TRAIN.sum(axis=1)
    has = counts > 0
    means = np.zeros((30, k))
    means[has] = (TRAIN[has] @ v[:, :k]) / counts[has, None]
    # fold_in_map_ is the ridge regression of learned user vectors on those means.
    gram = means.T @ means
    ridge = 0.01 * np.trace(gram) / k
    w = np.linalg.solve(gram + ridge * np.eye(k), means.T @ model.user_factors_[:, :k])
    np.testing.assert_allclose(model.fold_in_map_, w, rtol=1e-4, atol=1e-6)
    history = np.zeros((1, 12))
    history[0, [2, 3]] = [1.0, 3.0]  # weights: item 3 counts three times
    mean = (v[2, :k] + 3 * v[3, :k]) / 4
    x = np.append(mean @ w, 1.0)
    got = model.score([-1], sp.csr_matrix(history))[0]
    np.testing.assert_allclose(got, x @ v.T, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cls", [ALS, BPR])
def test_fit_keeps_openblas_threads_from_implicit(
    cls: type[ALS] | type[BPR], from_matrix: FromMatrix, monkeypatch: pytest.MonkeyPatch
) -> None:
    # implicit warns once per process; make it check again, with BLAS on two threads.
    monkeypatch.setattr(implicit.utils, "_checked_blas_config", False)
    with threadpool_limits(2, "blas"):
        with pytest.warns(RuntimeWarning, match="threads"):
            implicit.utils.check_blas_config()
        monkeypatch.setattr(implicit.utils, "_checked_blas_config", False)
        cls(n_factors=2, n_epochs=2).fit(from_matrix(TRAIN))  # warnings are errors here


@pytest.mark.parametrize("cls", [ALS, BPR])
@pytest.mark.parametrize("bad", [{"n_factors": 0}, {"n_epochs": 0}])
def test_bad_hyperparameters_fail_at_fit(
    cls: type[ALS] | type[BPR], bad: dict[str, int], from_matrix: FromMatrix
) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        cls(**bad).fit(from_matrix(TRAIN))
