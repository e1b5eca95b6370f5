"""EASE: the closed form equals a per-item ridge regression with a zero diagonal."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse as sp

from pulserec.events.interactions import Interactions
from pulserec.models.ease import EASE, ease_weights

FromMatrix = Callable[[np.ndarray], Interactions]

X = np.array(
    [
        [1, 1, 0, 0, 1],
        [1, 0, 1, 0, 0],
        [0, 1, 1, 1, 0],
        [1, 1, 1, 0, 0],
        [0, 0, 0, 1, 1],
        [1, 0, 0, 1, 1],
    ],
    dtype=np.float64,
)


def ridge_without_self(x: np.ndarray, l2: float) -> np.ndarray:
    """Column j of B regresses item j on all other items, independently per j."""
    n = x.shape[1]
    b = np.zeros((n, n))
    for j in range(n):
        others = [i for i in range(n) if i != j]
        xo = x[:, others]
        b[others, j] = np.linalg.solve(xo.T @ xo + l2 * np.eye(n - 1), xo.T @ x[:, j])
    return b


@pytest.mark.parametrize("l2", [0.5, 3.0, 50.0])
def test_weights_equal_constrained_ridge_regression(l2: float) -> None:
    got = ease_weights(sp.csr_matrix(X), l2)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ridge_without_self(X, l2), rtol=1e-5, atol=1e-7)
    assert not np.diag(got).any()


def test_score_is_history_times_weights(from_matrix: FromMatrix) -> None:
    model = EASE(l2=2.0).fit(from_matrix(X))
    b = ridge_without_self(X, 2.0)
    np.testing.assert_allclose(model.score(np.arange(6)), X @ b, rtol=1e-5, atol=1e-6)
    new_user = sp.csr_matrix(np.array([[0, 0, 1, 1, 0]], dtype=np.float32))
    np.testing.assert_allclose(model.score([-1], new_user)[0], b[2] + b[3], rtol=1e-5, atol=1e-6)


def test_l2_must_be_positive(from_matrix: FromMatrix) -> None:
    with pytest.raises(ValueError, match="l2"):
        EASE(l2=0.0).fit(from_matrix(X))
