"""Reading the files datasets come in: folders, delimited text, JSON lines, gzip, archives.

Every reader names the file, the 1-based line and the field when a line is
structurally broken (:class:`~pulserec.events.base.DataFormatError`), and a
missing required file raises :class:`FileNotFoundError` naming it.
"""

from __future__ import annotations

import csv
import errno
import gzip
import io
import json
import logging
import os
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from pulserec.events.base import DataFormatError

logger = logging.getLogger(__name__)

PathLike: TypeAlias = str | os.PathLike[str]


def dataset_folder(path: PathLike | None) -> Path:
    """The dataset folder: ``path`` itself, or its parent when it is a file.

    Raises
    ------
    ValueError
        When ``path`` is None (only MovieLens downloads; its loaders handle that).
    FileNotFoundError
        When ``path`` does not exist.
    """
    if path is None:
        raise ValueError("this dataset cannot be downloaded; pass the path of its files")
    found = Path(path)
    if found.is_file():
        return found.parent
    if not found.is_dir():
        raise FileNotFoundError(errno.ENOENT, "dataset folder not found", str(found))
    return found


def require(directory: Path, name: str, what: str) -> Path:
    """``directory / name``, which must be a file; ``what`` names it in the error."""
    path = directory / name
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, f"missing {what} file {name!r}", str(path))
    return path


def stem(path: Path) -> str:
    """The file name without its data suffixes (``Beauty_5.json.gz`` -> ``Beauty_5``)."""
    name = path.name
    for suffix in (".gz", ".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".parquet", ".pq"):
        name = name.removesuffix(suffix)
    return name


def utf8(data: bytes) -> bytes:
    """UTF-8 bytes: as they are when valid, else read as latin-1 (old MovieLens files)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1").encode("utf-8")
    return data


def maybe_gunzip(path: Path) -> bytes:
    """The bytes of ``path``, decompressed when its name ends in ``.gz``."""
    data = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise DataFormatError(str(path), None, None, f"not a valid gzip file: {exc}") from None
    return data


def read_delimited(
    path: Path,
    names: Sequence[str] | None,
    *,
    sep: str,
    header: bool = False,
    quoted: bool = False,
    data: bytes | None = None,
    multiline: bool = False,
) -> pd.DataFrame:
    """Read a delimited text file with every field as ``str``.

    Every line must have exactly ``len(names)`` fields, otherwise
    :class:`DataFormatError` names the line and the first missing field (or
    the last field, when there are too many). With ``header`` the first line
    must equal ``names`` (or gives the names when ``names`` is None). Blank
    lines are skipped; the ``_line`` column holds each row's 1-based line.
    ``multiline`` allows quoted values that span lines; line numbers then
    count records rather than physical lines. ``data`` replaces the file's
    bytes (already decoded or decompressed); ``path`` then only names it.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if data is None:
        data = path.read_bytes()
    skip = 0
    if header:
        first = data.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")
        found = next(csv.reader([first.rstrip("\r")], delimiter=sep), [])
        if names is None:
            names = [n.strip() for n in found]
            if len(set(names)) != len(names) or not all(names):
                raise DataFormatError(str(path), 1, None,
                                      f"header needs distinct, non-empty column names: {found}")
        elif [n.strip() for n in found] != list(names):
            raise DataFormatError(str(path), 1, None,
                                  f"expected the header {','.join(names)}, got {first.strip()!r}")
        skip = 1
    assert names is not None
    names = list(names)
    body = data.split(b"\n", 1)[1] if header and b"\n" in data else (b"" if header else data)
    if not body.strip():
        # pyarrow refuses a file without rows; an empty table is a valid answer.
        empty = pd.DataFrame({n: pd.Series([], dtype="str") for n in names})
        empty["_line"] = np.zeros(0, dtype=np.int64)
        return empty
    bad_rows: list[Any] = []

    def on_invalid(row: Any) -> str:
        bad_rows.append(row)
        return "error"

    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            # Serial parsing: only then does pyarrow know each bad row's number.
            read_options=pacsv.ReadOptions(use_threads=False, column_names=names,
                                           skip_rows=skip),
            parse_options=pacsv.ParseOptions(
                delimiter=sep,
                quote_char='"' if quoted else False,
                newlines_in_values=multiline,
                ignore_empty_lines=False,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as exc:
        if not bad_rows:
            raise DataFormatError(str(path), None, None, str(exc)) from None
        row = bad_rows[0]
        expected, actual = int(row.expected_columns), int(row.actual_columns)
        fields = ", ".join(names)
        if actual < expected:
            field = names[actual]
            message = (f"found {actual} field(s), expected {expected} ({fields}); "
                       f"{field!r} and after are missing")
        else:
            field = names[-1]
            message = (f"found {actual} fields, expected {expected} ({fields}); "
                       f"extra data after {field!r}")
        raise DataFormatError(str(path), row.number, field, message) from None
    frame: pd.DataFrame = table.to_pandas()
    frame["_line"] = np.arange(skip + 1, skip + 1 + len(frame), dtype=np.int64)
    # ignore_empty_lines is off so that row numbers stay physical line numbers;
    # a blank line then arrives as a row of empty strings.
    blank = (frame[names] == "").all(axis=1).to_numpy()
    if blank.any():
        frame = frame[~blank].reset_index(drop=True)
    return frame


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Objects of a JSON-lines file (``.gz`` undone); blank lines skipped."""
    lines = maybe_gunzip(path).splitlines()
    try:
        records = [json.loads(line) for line in lines if line.strip()]
    except (json.JSONDecodeError, UnicodeDecodeError):
        records = None
    if records is not None and all(isinstance(r, dict) for r in records):
        return records
    # Slow path only to find and name the first bad line.
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(str(path), number, None,
                                  f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        except UnicodeDecodeError as exc:
            raise DataFormatError(str(path), number, None, f"not UTF-8: {exc}") from None
        if not isinstance(record, dict):
            raise DataFormatError(str(path), number, None,
                                  f"expected a JSON object, got {type(record).__name__}")
    raise AssertionError("unreachable: a bad line was detected above")


def require_values(frame: pd.DataFrame, column: str, path: Path) -> None:
    """Raise on a blank id in a catalogue file: a broken line, not a droppable event."""
    blank = (frame[column].str.strip() == "").to_numpy()
    if blank.any():
        row = int(np.flatnonzero(blank)[0])
        raise DataFormatError(str(path), int(frame["_line"].iloc[row]), column, "empty id")


def fetch_zip(url: str, target: Path) -> None:
    """Download the zip at ``url`` and extract it into the new folder ``target``.

    The archive is extracted into a scratch folder beside ``target`` and renamed
    into place, so an interrupted download never leaves a half-filled folder.
    A member whose path would land outside the folder raises :class:`ValueError`.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("downloading %s", url)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        archive = Path(scratch) / f"{target.name}.zip"
        with urllib.request.urlopen(url, timeout=60) as response, archive.open("wb") as out:
            shutil.copyfileobj(response, out)
        extracted = Path(scratch) / target.name
        with zipfile.ZipFile(archive) as zf:
            root = extracted.resolve()
            for member in zf.namelist():
                if not (root / member).resolve().is_relative_to(root):
                    raise ValueError(f"{url}: archive member {member!r} escapes the folder")
            zf.extractall(extracted)
        extracted.rename(target)
