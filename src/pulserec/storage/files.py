"""Private files and folders: what pulserec writes holds user data, so only its owner reads it.

pulserec creates its files 0600 and its folders 0700 (the database and its ``-wal`` and
``-shm`` files, the embedding cache, model artifacts, the data directory). It never
changes the mode of a file or folder that already exists: an operator who opened one up
(a backup user's group, say) did so on purpose; :func:`warn_if_open` says so in the log.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> with tempfile.TemporaryDirectory() as tmp:
...     db = private_file(private_dir(Path(tmp) / "data") / "x.db")
...     oct(db.stat().st_mode & 0o777), oct(db.parent.stat().st_mode & 0o777)
('0o600', '0o700')
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

FILE_MODE: Final[int] = 0o600
DIR_MODE: Final[int] = 0o700
UMASK: Final[int] = 0o077
"""The process umask while a server runs: whatever it writes is private to its user."""

log = logging.getLogger("pulserec.storage")


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents as 0700 folders; an existing one is kept."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:  # made meanwhile by another thread or process
            continue
        os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask
    if not path.is_dir():
        raise NotADirectoryError(f"{path} exists and is not a folder")
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 unless it exists (then it is left as it is)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return path
    try:
        os.fchmod(fd, FILE_MODE)  # os.open's mode is filtered by the umask too
    finally:
        os.close(fd)
    return path


def warn_if_open(path: Path) -> bool:
    """Log a warning when ``path`` exists and its group or others may read it; True then."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return False
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        want = "0700" if stat.S_ISDIR(mode) else "0600"
        log.warning(
            "%s has mode %s: users other than its owner may read pulserec's data; "
            "chmod %s %s unless that is intended",
            path, oct(mode & 0o777)[2:], want, path,
        )  # fmt: skip
        return True
    return False


@contextmanager
def private_umask() -> Iterator[None]:
    """Run the block with umask 077 (files 0600, folders 0700), then restore the old one.

    The umask is the process's: everything any thread creates meanwhile is private.
    """
    old = os.umask(UMASK)
    try:
        yield
    finally:
        os.umask(old)
