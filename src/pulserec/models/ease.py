"""EASE: a closed-form linear item-to-item autoencoder (Steck, WWW 2019)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from pulserec.events.interactions import Interactions
from pulserec.models.base import Recommender


def ease_weights(user_items: sp.csr_matrix, l2: float) -> np.ndarray:
    """The EASE item-item weights ``B`` for a user x item matrix.

    ``P = (XᵀX + l2·I)⁻¹`` and ``B = I - P·diag(1/diag(P))``, which is the
    ridge regression of every item column on all the others under the
    constraint ``diag(B) = 0``.

    Returns
    -------
    ndarray, shape (n_items, n_items), float32
    """
    x = sp.csr_matrix(user_items, dtype=np.float64)
    gram = np.asarray((x.T @ x).toarray(), dtype=np.float64)
    gram[np.diag_indices_from(gram)] += l2
    # float64 for the inverse: with a small l2 the Gram matrix is ill conditioned
    # and single precision loses the small weights that carry the ranking. It is
    # symmetric positive definite, so a Cholesky inverse needs half the work of LU.
    chol, info = lapack.dpotrf(gram, lower=False, overwrite_a=True, clean=False)
    if info == 0:
        upper, info = lapack.dpotri(chol, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(
            f"ease: XᵀX + l2·I is not positive definite (LAPACK info {info}); raise l2"
        )
    p = np.triu(upper) + np.triu(upper, 1).T
    b: np.ndarray = p / -np.diag(p)[None, :]
    b[np.diag_indices_from(b)] = 0.0
    return b.astype(np.float32)


class EASE(Recommender):
    """Embarrassingly Shallow Autoencoder: ``score = X_u · B``.

    Fitting inverts one ``n_items x n_items`` matrix, so memory and time grow
    with the square and cube of the catalogue: fine up to some tens of
    thousands of items.

    Parameters
    ----------
    l2 : float
        Ridge penalty on ``B``; larger values smooth towards popularity.

    Attributes
    ----------
    weights_ : ndarray, shape (n_items, n_items), float32
        ``B`` with a zero diagonal.

    Examples
    --------
    >>> import pandas as pd
    >>> from pulserec.events.interactions import Interactions
    >>> events = pd.DataFrame({"user_id": ["a", "a", "b", "b", "c"],
    ...                        "item_id": ["x", "y", "x", "y", "x"],
    ...                        "timestamp": [1.0, 2.0, 3.0, 4.0, 5.0]})
    >>> model = EASE(l2=1.0).fit(Interactions.from_events(events))
    >>> model.recommend([2], k=1)[0].tolist()
    [[1]]
    """

    name: ClassVar[str] = "ease"
    param_grid: ClassVar[dict[str, list[Any]]] = {
        "l2": [50.0, 100.0, 200.0, 300.0, 400.0, 500.0, 700.0, 1000.0, 2000.0]
    }
    _state: ClassVar[tuple[str, ...]] = ("weights_",)

    weights_: np.ndarray

    def __init__(self, l2: float = 500.0) -> None:
        self.l2 = l2

    def _fit(self, train: Interactions) -> None:
        if not float(self.l2) > 0:
            raise ValueError(f"ease: l2 must be > 0, got {self.l2!r}")
        self.weights_ = ease_weights(self.user_items_, float(self.l2))

    def _score(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        return np.asarray(user_items @ self.weights_, dtype=np.float32)
