"""Private files and folders: created 0600 / 0700 under any umask, existing ones kept."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pulserec.storage.files import private_dir, private_file, private_umask, warn_if_open


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A permissive umask, as many shells have: modes must not depend on it."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_private_dir_creates_each_missing_folder_0700(tmp_path: Path, open_umask: None) -> None:
    tmp_path.chmod(0o755)
    made = private_dir(tmp_path / "a" / "b")
    assert made == tmp_path / "a" / "b"
    assert (mode(tmp_path / "a"), mode(made), mode(tmp_path)) == (0o700, 0o700, 0o755)
    (tmp_path / "shared").mkdir(mode=0o755)
    private_dir(tmp_path / "shared")  # an operator's choice is left alone
    assert mode(tmp_path / "shared") == 0o755


def test_private_dir_refuses_a_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("x")
    with pytest.raises(NotADirectoryError, match="data exists and is not a folder"):
        private_dir(tmp_path / "data")


def test_private_file_creates_0600_and_keeps_an_existing_file(
    tmp_path: Path, open_umask: None
) -> None:
    assert mode(private_file(tmp_path / "new.db")) == 0o600
    old = tmp_path / "old.db"
    old.write_bytes(b"data")
    old.chmod(0o640)
    private_file(old)
    assert (mode(old), old.read_bytes()) == (0o640, b"data")


def test_warn_if_open_names_the_path_and_the_fix(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    closed = private_file(tmp_path / "closed.db")
    opened = tmp_path / "open.db"
    opened.write_bytes(b"")
    opened.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="pulserec.storage"):
        assert warn_if_open(closed) is False
        assert warn_if_open(tmp_path / "missing") is False
        assert warn_if_open(opened) is True
    assert [r.getMessage() for r in caplog.records] == [
        f"{opened} has mode 644: users other than its owner may read pulserec's data; "
        f"chmod 0600 {opened} unless that is intended"
    ]


def test_private_umask_applies_inside_and_restores(tmp_path: Path, open_umask: None) -> None:
    with private_umask():
        (tmp_path / "inside").write_text("x")
        (tmp_path / "folder").mkdir()
    (tmp_path / "outside").write_text("x")
    assert mode(tmp_path / "inside") == 0o600 and mode(tmp_path / "folder") == 0o700
    assert mode(tmp_path / "outside") == 0o644
