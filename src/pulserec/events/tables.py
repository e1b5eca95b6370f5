"""Events from a generic table: CSV, TSV, JSON lines or Parquet, with any column names."""

from __future__ import annotations

import errno
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from pulserec.events.base import EVENT_COLUMNS, DataFormatError, Dataset
from pulserec.events.files import PathLike, maybe_gunzip, read_delimited, read_jsonl, stem
from pulserec.events.frames import finish
from pulserec.types import EVENT_TYPES

TABLE_FORMATS: tuple[str, ...] = ("csv", "tsv", "jsonl", "parquet")
"""The ``fmt`` values :func:`load_table` reads."""


def load_table(
    path: PathLike,
    columns: Mapping[str, str] | None = None,
    *,
    fmt: str | None = None,
    value_range: tuple[float, float] | None = None,
    default_type: str = "click",
    verbose: bool = True,
) -> Dataset:
    """Load events from a CSV, TSV, JSON-lines or Parquet table.

    Parameters
    ----------
    path : path-like
        The file; ``.gz`` compression is undone for CSV, TSV and JSON lines.
    columns : mapping, optional
        ``{canonical_name: source_column}`` for the names of
        :data:`~pulserec.events.base.EVENT_COLUMNS`. Canonical names left out
        are taken from a column of that very name when the file has one.
        ``user_id`` and ``timestamp`` are required, and ``item_id`` too unless
        the file has a ``type`` column or ``default_type`` is ``search``.
    fmt : {"csv", "tsv", "jsonl", "parquet"}, optional
        Overrides the format read from the extension (``.csv``, ``.tsv``,
        ``.jsonl`` / ``.ndjson`` / ``.json``, ``.parquet`` / ``.pq``).
    value_range : (float, float), optional
        Inclusive bounds of ``value``; rows outside are dropped.
    default_type : str
        Event type of every row when there is no ``type`` column.
    verbose : bool
        Print the cleaning report.

    Returns
    -------
    Dataset
        Timestamps may be numbers (epoch seconds) or ISO-8601 strings (UTC
        when no offset is given). Items are the distinct item ids, with
        ``title`` = the id.

    Examples
    --------
    >>> ds = load_table("clicks.csv", {"user_id": "uid", "item_id": "sku",
    ...                                "timestamp": "time"})  # doctest: +SKIP
    """
    if default_type not in EVENT_TYPES:
        raise ValueError(f"default_type {default_type!r} is not one of {sorted(EVENT_TYPES)}")
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(errno.ENOENT, "expected an event table file", str(file))
    fmt = _table_format(file) if fmt is None else fmt.lower()
    if fmt == "json":
        fmt = "jsonl"
    if fmt in ("csv", "tsv"):
        data = maybe_gunzip(file)
        table = read_delimited(file, None, sep="," if fmt == "csv" else "\t", header=True,
                                quoted=True, data=data, multiline=True)
    elif fmt == "jsonl":
        table = pd.DataFrame.from_records(read_jsonl(file))
    elif fmt == "parquet":
        try:
            table = pd.read_parquet(file)
        except (OSError, ValueError) as exc:
            raise DataFormatError(
                str(file), None, None, f"not a readable Parquet file: {exc}"
            ) from exc
    else:
        raise ValueError(f"unknown table format {fmt!r}; expected csv, tsv, jsonl or parquet")

    mapping = dict(columns or {})
    unknown = sorted(set(mapping) - set(EVENT_COLUMNS))
    if unknown:
        raise ValueError(f"columns maps unknown event field(s) {unknown}; "
                         f"the fields are {list(EVENT_COLUMNS)}")
    for name in EVENT_COLUMNS:
        if name not in mapping and name in table.columns:
            mapping[name] = name
    for name, source in mapping.items():
        if source not in table.columns:
            raise DataFormatError(str(file), None, source,
                                  f"column for {name!r} not found; the file has "
                                  f"{[c for c in table.columns if c != '_line']}")
    required = ["user_id", "timestamp"]
    # Without an item column only searches survive cleaning; with a type
    # column the report counts the rows that needed an item.
    if "type" not in mapping and default_type != "search":
        required.append("item_id")
    for name in required:
        if name not in mapping:
            raise DataFormatError(str(file), None, name,
                                  f"required column missing; map it with columns={{{name!r}: "
                                  f"'<source column>'}} (the file has "
                                  f"{[c for c in table.columns if c != '_line']})")
    raw = pd.DataFrame(
        {name: table[source].reset_index(drop=True) for name, source in mapping.items()}
    )
    if "item_id" not in raw:
        raw["item_id"] = None
    if "type" not in raw:
        raw["type"] = default_type
    raw["timestamp"] = _parse_timestamps(raw["timestamp"])
    return finish(stem(file), raw, None, value_range=value_range, verbose=verbose)


def _table_format(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    for suffix, fmt in ((".csv", "csv"), (".tsv", "tsv"), (".jsonl", "jsonl"),
                        (".ndjson", "jsonl"), (".json", "jsonl"), (".parquet", "parquet"),
                        (".pq", "parquet")):
        if name.endswith(suffix):
            return fmt
    raise ValueError(f"{path}: cannot tell the format from the extension; pass fmt="
                     "'csv', 'tsv', 'jsonl' or 'parquet'")


def _parse_timestamps(series: pd.Series) -> pd.Series:
    """Epoch seconds from numbers, numeric strings or ISO-8601 strings (NaN if none fits)."""
    if not (pd.api.types.is_object_dtype(series.dtype)
            or pd.api.types.is_string_dtype(series.dtype)):
        return series
    text = series.astype("str").str.strip()
    seconds = np.array(pd.to_numeric(text, errors="coerce"), dtype=np.float64)
    rest = np.isnan(seconds) & (text.notna() & (text != "")).to_numpy()
    if rest.any():
        stamps = pd.to_datetime(text[rest], format="ISO8601", utc=True, errors="coerce")
        parsed = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        seconds[rest] = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.Series(seconds, index=series.index)
