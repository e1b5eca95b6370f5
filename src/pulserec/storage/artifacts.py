"""Pruning old model versions from an artifacts folder.

Each refit writes ``<artifacts>/<version>/`` and points ``<artifacts>/current.json`` at it;
nothing removed the versions before, so the folder grew with every refit, and each version
keeps what it learned about every user of its log (their factors, their sequences) long
after a user is forgotten. :func:`prune_artifacts` keeps the newest ``keep`` versions and
the current one, and deletes the rest.

A version folder is a folder whose name starts with a UTC timestamp, ``YYYYMMDDTHHMMSS``
(as the engine names versions), so names sort by time; anything else in the folder is
never touched.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> with tempfile.TemporaryDirectory() as tmp:
...     root = Path(tmp)
...     for name in ("20260101T000000.000-9", "20260102T000000.000-9", "20260103T000000.000-9"):
...         (root / name).mkdir()
...     _ = (root / "current.json").write_text('{"version": "20260101T000000.000-9"}')
...     [p.name for p in prune_artifacts(root, keep=1)]
['20260102T000000.000-9']
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Final

VERSION_NAME: Final = re.compile(r"^\d{8}T\d{6}")
"""How a version folder's name starts."""

CURRENT_FILE: Final[str] = "current.json"

log = logging.getLogger("pulserec.storage")


def current_version(directory: Path) -> str | None:
    """The version ``current.json`` names, or None when there is none (or it is unreadable)."""
    try:
        found = json.loads((directory / CURRENT_FILE).read_text(encoding="utf-8"))["version"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("cannot read %s: %s", directory / CURRENT_FILE, exc)
        return None
    return found if isinstance(found, str) else None


def prune_artifacts(directory: Path, keep: int = 3) -> list[Path]:
    """Delete the version folders of ``directory`` beyond the newest ``keep``.

    The current version (``current.json``) is never deleted, even when older than the
    newest ``keep``. When ``current.json`` cannot be read, nothing is deleted: the current
    version is then unknown.

    Parameters
    ----------
    directory : Path
        An artifacts folder (``<data_dir>/artifacts``).
    keep : int
        How many of the newest versions stay, besides the current one; at least 1.

    Returns
    -------
    list of Path
        The folders deleted, oldest first.
    """
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise ValueError(f"artifacts_keep: expected an integer >= 1, got {keep!r}")
    if not directory.is_dir():
        return []
    current = current_version(directory)
    if current is None and (directory / CURRENT_FILE).exists():
        return []  # unreadable: which version serves is unknown
    versions = sorted(p for p in directory.iterdir() if p.is_dir() and VERSION_NAME.match(p.name))
    doomed = [p for p in versions[: max(len(versions) - keep, 0)] if p.name != current]
    removed = []
    for path in doomed:
        try:
            shutil.rmtree(path)
        except FileNotFoundError:  # pruned meanwhile by another process
            continue
        removed.append(path)
    return removed
