"""prune_artifacts: the newest N version folders stay, the current one always."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pulserec.config import Settings
from pulserec.storage.artifacts import prune_artifacts

VERSIONS = [f"2026010{d}T120000.000-{100 * d}" for d in range(1, 7)]


def artifacts(tmp_path: Path, current: str | None) -> Path:
    root = tmp_path / "artifacts"
    for version in VERSIONS:
        (root / version / "sequential").mkdir(parents=True)
        (root / version / "models.npz").write_bytes(b"x")
    if current is not None:
        (root / "current.json").write_text(json.dumps({"version": current}))
    return root


def names(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def test_the_newest_versions_stay(tmp_path: Path) -> None:
    root = artifacts(tmp_path, current=VERSIONS[-1])
    removed = prune_artifacts(root, keep=3)
    assert [p.name for p in removed] == VERSIONS[:3]
    assert names(root) == [*VERSIONS[3:], "current.json"]
    assert prune_artifacts(root, keep=3) == []  # nothing more to do


def test_the_current_version_stays_even_when_old(tmp_path: Path) -> None:
    root = artifacts(tmp_path, current=VERSIONS[1])  # e.g. a newer refit is being written
    assert [p.name for p in prune_artifacts(root, keep=2)] == [VERSIONS[0], *VERSIONS[2:4]]
    assert names(root) == [VERSIONS[1], *VERSIONS[4:], "current.json"]


def test_other_entries_are_never_touched(tmp_path: Path) -> None:
    root = artifacts(tmp_path, current=VERSIONS[-1])
    (root / "notes").mkdir()
    (root / "20260101-not-a-version").mkdir()
    (root / "19990101T000000.txt").write_text("a file, not a folder")
    prune_artifacts(root, keep=1)
    assert names(root) == [
        "19990101T000000.txt", "20260101-not-a-version", VERSIONS[-1], "current.json", "notes",
    ]  # fmt: skip


def test_without_current_json_the_newest_stay(tmp_path: Path) -> None:
    root = artifacts(tmp_path, current=None)
    assert len(prune_artifacts(root, keep=4)) == 2


def test_an_unreadable_current_json_deletes_nothing(tmp_path: Path) -> None:
    root = artifacts(tmp_path, current=None)
    (root / "current.json").write_text("{not json")
    assert prune_artifacts(root, keep=1) == [] and len(names(root)) == 7


def test_a_missing_folder_is_nothing_to_prune(tmp_path: Path) -> None:
    assert prune_artifacts(tmp_path / "nowhere") == []


@pytest.mark.parametrize("keep", [0, -1, 1.5, True])
def test_a_bad_keep_is_named(tmp_path: Path, keep: object) -> None:
    with pytest.raises(ValueError, match="artifacts_keep: expected an integer >= 1"):
        prune_artifacts(tmp_path, keep=keep)  # type: ignore[arg-type]


def test_the_setting_defaults_to_three_and_is_bounded() -> None:
    assert Settings().engine.artifacts_keep == 3
    with pytest.raises(ValueError, match="artifacts_keep"):
        Settings(engine={"artifacts_keep": 0})
