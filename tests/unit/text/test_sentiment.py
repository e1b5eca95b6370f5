"""The sentiment classifier: logistic regression known answers, weights, persistence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pulserec.text import HashingEncoder
from pulserec.text.sentiment import SentimentModel, star_labels


def separable(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points in 8-d labelled by the sign of a fixed direction, with a margin."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8))
    direction = np.arange(1.0, 9.0) / np.linalg.norm(np.arange(1.0, 9.0))
    margin = x @ direction
    keep = np.abs(margin) > 0.3
    return x[keep], (margin[keep] > 0).astype(np.int64)


def test_separates_a_linearly_separable_set() -> None:
    x, y = separable()
    model = SentimentModel(encoder="hashing", C=100.0).fit_vectors(x, y)
    proba = model.predict_proba_vectors(x)
    assert ((proba >= 0.5) == y.astype(bool)).all()
    # The learned direction is the true one.
    direction = np.arange(1.0, 9.0) / np.linalg.norm(np.arange(1.0, 9.0))
    assert model.coef_ @ direction / np.linalg.norm(model.coef_) > 0.95


def test_matches_the_closed_form_optimum_of_a_one_feature_problem() -> None:
    # With one constant-zero feature the optimum intercept is the log-odds of the labels
    # (unweighted), and the coefficient stays 0 under the L2 penalty.
    x = np.zeros((4, 1))
    y = np.array([1, 1, 1, 0])
    model = SentimentModel(encoder="hashing", class_weight=None).fit_vectors(x, y)
    assert model.intercept_ == pytest.approx(np.log(3.0), abs=1e-4)
    assert model.coef_[0] == pytest.approx(0.0, abs=1e-8)
    balanced = SentimentModel(encoder="hashing").fit_vectors(x, y)
    # Balanced class weights make both classes count equally: P(positive) = 0.5.
    assert balanced.predict_proba_vectors(x)[0] == pytest.approx(0.5, abs=1e-4)


def test_class_weights_rescue_the_rare_class() -> None:
    rng = np.random.default_rng(3)
    positives = rng.normal(loc=1.0, size=(300, 4))
    negatives = rng.normal(loc=-1.0, size=(10, 4))
    x = np.vstack([positives, negatives])
    y = np.r_[np.ones(300, dtype=int), np.zeros(10, dtype=int)]
    plain = SentimentModel(encoder="hashing", class_weight=None, C=0.1).fit_vectors(x, y)
    weighted = SentimentModel(encoder="hashing", C=0.1).fit_vectors(x, y)
    negative_recall = {
        name: float(np.mean(m.predict_proba_vectors(negatives) < 0.5))
        for name, m in (("plain", plain), ("weighted", weighted))
    }
    assert negative_recall["weighted"] == 1.0
    assert negative_recall["plain"] <= 0.5
    # ...without giving up the common class.
    assert np.mean(weighted.predict_proba_vectors(positives) >= 0.5) > 0.95


def test_fit_on_texts_with_an_encoder() -> None:
    texts = ["good great love it", "great product love", "good value great",
             "bad awful hate it", "awful product hate", "bad value awful"]
    labels = [True, True, True, False, False, False]
    model = SentimentModel(encoder=HashingEncoder(dim=256), C=10.0).fit(texts, labels)
    proba = model.predict_proba(["love it, great", "hate it, awful"])
    assert proba[0] > 0.5 > proba[1]
    assert model.predict(["love it, great", "hate it, awful"]).tolist() == [True, False]


def test_save_load_round_trip(tmp_path: Path) -> None:
    x, y = separable()
    model = SentimentModel(encoder="hashing", C=3.0).fit_vectors(x, y)
    model.metadata_ = {"trained_on": "toy"}
    path = model.save(tmp_path / "model")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["encoder"] == "hashing" and manifest["dim"] == 8
    assert sorted(p.name for p in path.iterdir()) == ["manifest.json", "sentiment.npz"]
    loaded = SentimentModel.load(path)
    np.testing.assert_allclose(
        loaded.predict_proba_vectors(x), model.predict_proba_vectors(x), rtol=1e-5
    )
    assert loaded.C == 3.0 and loaded.metadata_ == {"trained_on": "toy"}
    with pytest.raises(ValueError, match="trained with"):
        SentimentModel.load(path, encoder=HashingEncoder(dim=16))


def test_errors_are_actionable() -> None:
    model = SentimentModel(encoder="hashing")
    with pytest.raises(RuntimeError, match="fit"):
        model.predict_proba_vectors(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="both classes"):
        model.fit_vectors(np.zeros((3, 2)), [1, 1, 1])
    with pytest.raises(ValueError, match="0/1"):
        model.fit_vectors(np.zeros((2, 2)), [1, 5])
    fitted = model.fit_vectors(np.eye(2), [0, 1])
    with pytest.raises(ValueError, match="expected shape"):
        fitted.predict_proba_vectors(np.zeros((1, 3)))


def test_star_labels_drop_three_stars() -> None:
    keep, labels = star_labels([1, 2, 3, 4, 5, 3.0])
    assert keep.tolist() == [True, True, False, True, True, False]
    assert labels.tolist() == [0, 0, 1, 1]


def test_the_shipped_model_loads_offline() -> None:
    model = SentimentModel.default()
    assert model.encoder_name == "use-m3"
    assert model.coef_.shape == (512,)
    assert np.isfinite(model.coef_).all()
    cv = model.metadata_["english_cv"]
    assert cv["model"]["balanced_accuracy"] > cv["majority"]["balanced_accuracy"]
