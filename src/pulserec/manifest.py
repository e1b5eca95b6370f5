"""The JSON manifest beside every saved artifact, written and checked in one place.

Every artifact pulserec saves (a model, the engine's model set, topics, a sentiment model)
is a folder of ``.npz`` arrays plus ``manifest.json``. The manifest is written last and
atomically, so a folder whose manifest parses is whole; reading checks the file, its JSON,
its ``format`` name, its ``format_version`` and the fields the reader needs, and every
problem raises one error type, :class:`ArtifactError`, naming the file and the field.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> with tempfile.TemporaryDirectory() as tmp:
...     _ = write_manifest(tmp, {"n_items": 3}, format="toy", format_version=1)
...     read_manifest(tmp, format="toy", versions=(1,), required=("n_items",))["n_items"]
3
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"
"""The manifest's file name inside an artifact folder."""


class ArtifactError(ValueError):
    """A saved artifact cannot be loaded: a file is missing, or its manifest is not readable
    by this pulserec (bad JSON, another format, a newer version, a missing field)."""


def write_manifest(
    directory: str | os.PathLike[str],
    fields: Mapping[str, Any],
    *,
    format: str,
    format_version: int,
    indent: int | None = 2,
) -> Path:
    """Write ``directory/manifest.json`` atomically, with ``format`` and ``format_version``.

    The JSON goes to a temporary file first and then replaces the manifest, so a reader sees
    the old manifest or the new one, never half of one. Write the artifact's arrays before
    calling this: the manifest appearing is what marks the folder complete.

    Parameters
    ----------
    directory : path-like
        The artifact folder; created when missing.
    fields : mapping
        The artifact's own fields (JSON-serialisable); ``format`` and ``format_version``
        are set here and must not be among them.
    format : str
        Name of the artifact kind, e.g. ``"pulserec-model"``.
    format_version : int
        Version of that kind's layout; readers refuse versions they do not know.
    indent : int or None
        JSON indentation; None writes one line (for manifests that hold long id lists).

    Returns
    -------
    Path
        The manifest's path.
    """
    for key in ("format", "format_version"):
        if key in fields:
            raise ValueError(f"fields: {key!r} is set by write_manifest, not by the caller")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"format": format, "format_version": format_version, **fields}
    path = folder / MANIFEST_NAME
    tmp = folder / f"{MANIFEST_NAME}.tmp"
    tmp.write_text(json.dumps(manifest, indent=indent, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
    return path


def read_manifest(
    directory: str | os.PathLike[str],
    *,
    format: str,
    versions: Collection[int],
    required: Iterable[str] = (),
) -> dict[str, Any]:
    """Read ``directory/manifest.json`` and check it before anything trusts it.

    Parameters
    ----------
    directory : path-like
        The artifact folder.
    format : str
        The ``format`` field the caller reads.
    versions : collection of int
        The ``format_version`` values the caller reads.
    required : iterable of str
        Fields that must be present.

    Returns
    -------
    dict
        The manifest.

    Raises
    ------
    ArtifactError
        When the file is missing, is not a JSON object, names another format or a version
        not in ``versions`` (a newer one says to upgrade pulserec), or lacks a required
        field; the message names the file and the field.
    """
    path = Path(directory) / MANIFEST_NAME
    if not path.is_file():
        raise ArtifactError(f"{path}: no manifest here (expected a {format!r} artifact)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{path}: expected a JSON object, got {type(manifest).__name__}")
    if manifest.get("format") != format:
        raise ArtifactError(
            f"{path}: field 'format' is {manifest.get('format')!r}, expected {format!r}"
        )
    version = manifest.get("format_version")
    known = sorted(versions)
    is_int = isinstance(version, int) and not isinstance(version, bool)
    if not is_int or version not in known:
        newer = isinstance(version, int) and is_int and bool(known) and version > known[-1]
        hint = " (written by a newer pulserec: upgrade it to read this)" if newer else ""
        raise ArtifactError(
            f"{path}: field 'format_version' is {version!r}, this pulserec reads "
            f"{' or '.join(map(str, known)) or 'none'}{hint}"
        )
    missing = [name for name in required if name not in manifest]
    if missing:
        raise ArtifactError(f"{path}: required field(s) {', '.join(map(repr, missing))} missing")
    return manifest


def require_file(directory: str | os.PathLike[str], name: str, what: str) -> Path:
    """The path of file ``name`` in an artifact folder; :class:`ArtifactError` when absent.

    Parameters
    ----------
    directory : path-like
        The artifact folder.
    name : str
        The file's name, e.g. ``"model.npz"``.
    what : str
        What the file holds, for the message (``"the model arrays"``).
    """
    path = Path(directory) / name
    if not path.is_file():
        raise ArtifactError(f"{path}: file missing ({what}); the artifact is incomplete")
    return path
