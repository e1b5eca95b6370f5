"""Shared fixtures. Real-data tests fail, never skip, when the data is missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _data_root() -> Path:
    return Path(os.environ.get("PULSEREC_DATA_ROOT", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def data_root() -> Path:
    """``../shared/data`` (or ``$PULSEREC_DATA_ROOT``); fails loudly when absent."""
    root = _data_root()
    if not (root / "INDEX.md").is_file():
        pytest.fail(
            f"real datasets not found at {root}: place the shared data there or set "
            "PULSEREC_DATA_ROOT; integration tests never skip"
        )
    return root


@pytest.fixture(scope="session")
def dataset_dir(data_root: Path):  # type: ignore[no-untyped-def]
    """``dataset_dir("ml-100k")`` -> the folder, failing when it is missing."""

    def get(name: str) -> Path:
        path = data_root / name
        if not path.is_dir():
            pytest.fail(f"dataset folder {path} is missing; integration tests never skip")
        return path

    return get
