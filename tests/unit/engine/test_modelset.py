"""Saved models: a round trip, and a clear error for a folder that is not ours."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from shop import tiny_models

from pulserec.engine.features import BLEND_NAMES, NAMES
from pulserec.engine.modelset import ModelSet
from pulserec.manifest import ArtifactError


def test_models_round_trip(tmp_path: Path) -> None:
    models = tiny_models()
    loaded = ModelSet.load(models.save(tmp_path / "v1"), BLEND_NAMES)
    assert loaded.version == "tiny" and loaded.users.to_list() == ["a"]
    np.testing.assert_array_equal(loaded.item_factors, models.item_factors)
    np.testing.assert_array_equal(loaded.covisit.toarray(), models.covisit.toarray())
    np.testing.assert_array_equal(loaded.weights, models.weights)
    assert loaded.segment_weights is None
    models.segment_weights = np.arange(4 * len(BLEND_NAMES), dtype=float).reshape(4, -1)
    models.previous_version = "tiny-0"
    models.metrics = {"recall@10": 0.25, "previous_recall@10": 0.2}
    again = ModelSet.load(models.save(tmp_path / "v2"), BLEND_NAMES)
    np.testing.assert_array_equal(again.segment_weights, models.segment_weights)  # type: ignore[arg-type]
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


def test_models_saved_with_weights_for_users_without_events_load_as_segments(
    tmp_path: Path,
) -> None:
    saved = tiny_models().save(tmp_path / "v1")
    with np.load(saved / "models.npz") as z:
        arrays = {k: z[k] for k in z.files if k != "segment_weights"}
    cold = np.full(len(BLEND_NAMES), 2.0)
    np.savez(saved / "models.npz", **arrays, cold_weights=cold)
    loaded = ModelSet.load(saved, BLEND_NAMES)
    assert loaded.segment_weights is not None
    np.testing.assert_array_equal(loaded.segment_weights[0], cold)
    for row in loaded.segment_weights[1:]:  # users with events rank as before
        np.testing.assert_array_equal(row, loaded.weights)
