"""Saved models: a round trip, and a clear error for a folder that is not ours."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from shop import tiny_models

from pulserec.engine.features import NAMES
from pulserec.engine.modelset import ModelSet
from pulserec.manifest import ArtifactError


def test_models_round_trip(tmp_path: Path) -> None:
    models = tiny_models()
    loaded = ModelSet.load(models.save(tmp_path / "v1"), NAMES)
    assert loaded.version == "tiny" and loaded.users.to_list() == ["a"]
    np.testing.assert_array_equal(loaded.item_factors, models.item_factors)
    np.testing.assert_array_equal(loaded.covisit.toarray(), models.covisit.toarray())
    np.testing.assert_array_equal(loaded.weights, models.weights)
    assert loaded.cold_weights is None
    models.cold_weights = np.arange(len(NAMES), dtype=float)
    models.previous_version = "tiny-0"
    models.metrics = {"recall@10": 0.25, "previous_recall@10": 0.2}
    again = ModelSet.load(models.save(tmp_path / "v2"), NAMES)
    np.testing.assert_array_equal(again.cold_weights, models.cold_weights)  # type: ignore[arg-type]
    # the validation figures and the version they compare with stay with the models
    assert again.previous_version == "tiny-0" and again.metrics == models.metrics
    assert loaded.previous_version is None


def test_weights_follow_the_features_by_name(tmp_path: Path) -> None:
    saved = tiny_models().save(tmp_path / "v1")
    # a reader whose features are reordered and one newer: weights move by name
    order = (*reversed(NAMES), "fresh")
    loaded = ModelSet.load(saved, order)
    assert loaded.weights.tolist() == [1.0] * len(NAMES) + [0.0]


def test_a_foreign_manifest_is_refused_by_field(tmp_path: Path) -> None:
    saved = tiny_models().save(tmp_path / "v1")
    manifest = json.loads((saved / "manifest.json").read_text())
    (saved / "manifest.json").write_text(json.dumps({**manifest, "format": "other"}))
    with pytest.raises(ArtifactError, match="format"):
        ModelSet.load(saved, NAMES)
    (saved / "manifest.json").write_text(json.dumps(manifest))
    (saved / "models.npz").unlink()
    with pytest.raises(ArtifactError, match=r"models\.npz"):
        ModelSet.load(saved, NAMES)
