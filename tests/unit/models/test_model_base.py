"""Recommender base behaviour the concrete models rely on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from pulserec.events.interactions import Interactions
from pulserec.models import EASE, ItemKNN
from pulserec.models.base import ArtifactError, Recommender

FromMatrix = Callable[[np.ndarray], Interactions]

X = np.array(
    [
        [0, 0, 0, 0],  # u0: in the id map, nothing in training
        [1, 1, 0, 0],
        [0, 1, 1, 0],
        [1, 0, 1, 1],
    ],
    dtype=np.float32,
)
COUNTS = X.sum(axis=0)


def test_sparse_state_round_trips_as_csr(from_matrix: FromMatrix, tmp_path: Path) -> None:
    model = ItemKNN(k_neighbors=2).fit(from_matrix(X))
    loaded = Recommender.load(model.save(tmp_path / "knn"))
    assert isinstance(loaded, ItemKNN)
    assert sp.issparse(loaded.similarity_)
    assert (loaded.similarity_ != model.similarity_).nnz == 0


def test_missing_state_array_is_an_artifact_error(
    from_matrix: FromMatrix, tmp_path: Path
) -> None:
    path = EASE(l2=1.0).fit(from_matrix(X)).save(tmp_path / "ease")
    with np.load(path / "model.npz", allow_pickle=False) as z:
        kept = {key: z[key] for key in z.files if key != "state.weights_"}
    np.savez(path / "model.npz", **kept)
    with pytest.raises(ArtifactError, match="weights_"):
        Recommender.load(path)
    (path / "model.npz").unlink()
    with pytest.raises(ArtifactError, match=r"model\.npz: file missing"):
        Recommender.load(path)


def test_known_user_with_empty_training_row_gets_popularity(from_matrix: FromMatrix) -> None:
    model = ItemKNN().fit(from_matrix(X))
    scores = model.score([0, 1])
    np.testing.assert_array_equal(scores[0], COUNTS)
    assert not np.array_equal(scores[1], COUNTS)


def test_fold_in_defaults_to_scoring_the_given_rows(from_matrix: FromMatrix) -> None:
    model = EASE(l2=1.0).fit(from_matrix(X))
    rows = sp.csr_matrix(X[1:])
    np.testing.assert_array_equal(model.score([-1, -1, -1], rows), model.score([1, 2, 3]))


def test_fold_in_rows_must_match_users_and_items(from_matrix: FromMatrix) -> None:
    model = EASE(l2=1.0).fit(from_matrix(X))
    with pytest.raises(ValueError, match="user_items: expected shape"):
        model.score([-1], sp.csr_matrix((1, 3), dtype=np.float32))


def test_unfitted_model_says_to_fit() -> None:
    with pytest.raises(RuntimeError, match="call fit"):
        EASE().score([0])
