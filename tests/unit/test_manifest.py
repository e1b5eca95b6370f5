"""The artifact manifest: atomic writes, and one error type for every unreadable manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pulserec.manifest import (
    MANIFEST_NAME,
    ArtifactError,
    read_manifest,
    require_file,
    write_manifest,
)
from pulserec.models.base import Recommender
from pulserec.text.sentiment import SentimentModel
from pulserec.text.topics import Topics


def read(folder: Path, **kwargs: object) -> dict[str, object]:
    options: dict[str, object] = {"format": "toy", "versions": (1, 2)} | kwargs
    return read_manifest(folder, **options)  # type: ignore[arg-type]


def put(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST_NAME).write_text(text, encoding="utf-8")
    return folder


def test_round_trip_sets_format_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = write_manifest(
        tmp_path / "a", {"n_items": 3, "title": "绿茶"}, format="toy", format_version=2
    )
    assert path == tmp_path / "a" / MANIFEST_NAME
    assert sorted(p.name for p in path.parent.iterdir()) == [MANIFEST_NAME]
    assert read(tmp_path / "a", required=("n_items",)) == {
        "format": "toy", "format_version": 2, "n_items": 3, "title": "绿茶",
    }  # fmt: skip
    assert "绿茶" in path.read_text(encoding="utf-8")  # readable, not \\u-escaped


def test_compact_manifest_is_one_line(tmp_path: Path) -> None:
    path = write_manifest(tmp_path, {"users": ["a", "b"]}, format="toy", format_version=1,
                          indent=None)  # fmt: skip
    assert len(path.read_text(encoding="utf-8").splitlines()) == 1
    assert read(tmp_path)["users"] == ["a", "b"]


def test_rewrite_replaces_the_whole_manifest(tmp_path: Path) -> None:
    write_manifest(tmp_path, {"a": 1, "b": 2}, format="toy", format_version=1)
    write_manifest(tmp_path, {"a": 3}, format="toy", format_version=1)
    assert read(tmp_path) == {"format": "toy", "format_version": 1, "a": 3}


def test_caller_may_not_set_the_format_fields(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'format'"):
        write_manifest(tmp_path, {"format": "other"}, format="toy", format_version=1)
    assert not (tmp_path / MANIFEST_NAME).exists()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"manifest\.json: no manifest here.*'toy'"):
        read(tmp_path)


def test_bad_json_names_the_file_and_position(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"manifest\.json: not valid JSON.*line 1 column 2"):
        read(put(tmp_path, "{,}"))
    with pytest.raises(ArtifactError, match="not valid JSON"):
        read(put(tmp_path, ""))


def test_not_an_object(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="expected a JSON object, got list"):
        read(put(tmp_path, "[1, 2]"))


def test_wrong_format(tmp_path: Path) -> None:
    put(tmp_path, json.dumps({"format": "pulserec-model", "format_version": 1}))
    with pytest.raises(ArtifactError, match="field 'format' is 'pulserec-model', expected 'toy'"):
        read(tmp_path)
    put(tmp_path, json.dumps({"format_version": 1}))
    with pytest.raises(ArtifactError, match="field 'format' is None"):
        read(tmp_path)


def test_newer_version_says_to_upgrade(tmp_path: Path) -> None:
    put(tmp_path, json.dumps({"format": "toy", "format_version": 3}))
    with pytest.raises(ArtifactError, match=r"'format_version' is 3, this pulserec reads 1 or 2 "
                       r"\(written by a newer pulserec"):  # fmt: skip
        read(tmp_path)


@pytest.mark.parametrize("version", [0, "1", True, 1.5, None])
def test_unknown_or_mistyped_version(tmp_path: Path, version: object) -> None:
    put(tmp_path, json.dumps({"format": "toy", "format_version": version}))
    with pytest.raises(ArtifactError, match="'format_version' is") as info:
        read(tmp_path)
    assert "newer" not in str(info.value)


def test_missing_required_fields_are_all_named(tmp_path: Path) -> None:
    write_manifest(tmp_path, {"n_items": 3}, format="toy", format_version=1)
    with pytest.raises(ArtifactError, match=r"field\(s\) 'users', 'version' missing"):
        read(tmp_path, required=("n_items", "users", "version"))


def test_require_file(tmp_path: Path) -> None:
    (tmp_path / "model.npz").write_bytes(b"")
    assert require_file(tmp_path, "model.npz", "the arrays") == tmp_path / "model.npz"
    with pytest.raises(ArtifactError, match=r"topics\.npz: file missing \(the centroids\)"):
        require_file(tmp_path, "topics.npz", "the centroids")


def test_artifact_error_is_a_value_error() -> None:
    # callers that caught ValueError from the loaders before keep working
    assert issubclass(ArtifactError, ValueError)


LOADERS = {
    "model": Recommender.load,
    "topics": Topics.load,
    "sentiment": SentimentModel.load,
}


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_every_loader_raises_the_one_error_type(tmp_path: Path, kind: str) -> None:
    load = LOADERS[kind]
    with pytest.raises(ArtifactError, match="no manifest here"):
        load(tmp_path)
    put(tmp_path, json.dumps({"format": "other", "format_version": 1}))
    with pytest.raises(ArtifactError, match="field 'format' is 'other'"):
        load(tmp_path)


def test_topics_without_their_arrays(tmp_path: Path) -> None:
    topics = Topics(np.eye(2, dtype=np.float32), [["tea"], ["shoes"]], np.array([1, 1]), 0)
    path = topics.save(tmp_path / "topics")
    assert sorted(p.name for p in path.iterdir()) == [MANIFEST_NAME, "topics.npz"]
    (path / "topics.npz").unlink()
    with pytest.raises(ArtifactError, match=r"topics\.npz: file missing"):
        Topics.load(path)
