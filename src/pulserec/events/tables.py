"""Events from a generic table: CSV, TSV, JSON lines or Parquet, with any column names."""

from __future__ import annotations

import errno
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from pulserec.events.base import EVENT_COLUMNS, DataFormatError, Dataset
from pulserec.events.files import PathLike, maybe_gunzip, read_delimited, read_jsonl, stem
from pulserec.events.frames import finish, item_frame, items_of
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
    items: PathLike | None = None,
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
    items : path-like, optional
        An items table (:func:`load_items`: titles, descriptions, categories).
        Without one, a file named ``items.<csv|tsv|jsonl|parquet>`` beside the
        events file is read when there is one.

    Returns
    -------
    Dataset
        Timestamps may be numbers (epoch seconds) or ISO-8601 strings (UTC
        when no offset is given). Items are those of the items table, plus
        every other item id the events name, bare: no title and no text, so
        nothing is read into them (an id is not text).

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
    table = _read(file, fmt)
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
    items_file = Path(items) if items is not None else items_beside(file)
    item_table = None
    if items_file is not None:
        item_table = load_items(items_file)
        # items the events name and the table lacks are added bare: events are never lost
        named = raw["item_id"].dropna().astype(str).str.strip().unique()
        listed = set(item_table["item_id"])
        missing = [i for i in named if i not in listed]
        if missing:
            bare = items_of(pd.DataFrame({"item_id": missing}))
            item_table = pd.concat([item_table, bare], ignore_index=True)
    return finish(stem(file), raw, item_table, value_range=value_range, verbose=verbose)


def _read(file: Path, fmt: str) -> pd.DataFrame:
    """A table file as a frame (``fmt`` as :func:`load_table` takes it)."""
    if fmt == "json":
        fmt = "jsonl"
    if fmt in ("csv", "tsv"):
        data = maybe_gunzip(file)
        return read_delimited(file, None, sep="," if fmt == "csv" else "\t", header=True,
                              quoted=True, data=data, multiline=True)
    if fmt == "jsonl":
        return pd.DataFrame.from_records(read_jsonl(file))
    if fmt == "parquet":
        try:
            return pd.read_parquet(file)
        except (OSError, ValueError) as exc:
            raise DataFormatError(
                str(file), None, None, f"not a readable Parquet file: {exc}"
            ) from exc
    raise ValueError(f"unknown table format {fmt!r}; expected csv, tsv, jsonl or parquet")


ITEM_FIELDS: tuple[str, ...] = ("item_id", "title", "text", "categories", "created_at")
"""The columns an items table may have (``item_id`` required); others become attributes."""


def items_beside(events_file: Path) -> Path | None:
    """The items table next to an events table: a file named ``items`` with a table
    extension in the same folder (not the events file itself)."""
    for candidate in sorted(events_file.parent.glob("items.*")):
        if candidate != events_file and candidate.is_file():
            try:
                _table_format(candidate)
            except ValueError:
                continue
            return candidate
    return None


def load_items(path: PathLike, *, fmt: str | None = None) -> pd.DataFrame:
    """An items table: ``item_id`` and any of ``title``, ``text`` (or ``description``),
    ``categories`` (a list, or ``|``-separated in CSV and TSV) and ``created_at`` (epoch
    seconds or ISO-8601); every other column goes into the item's attributes."""
    file = Path(path)
    table = _read(file, _table_format(file) if fmt is None else fmt.lower())
    table = table.drop(columns=[c for c in ("_line",) if c in table.columns])
    if "description" in table.columns and "text" not in table.columns:
        table = table.rename(columns={"description": "text"})
    if "item_id" not in table.columns:
        raise DataFormatError(str(file), None, "item_id",
                              f"required column missing (the file has {list(table.columns)})")
    ids = table["item_id"].astype(str).str.strip()
    if (ids == "").any() or table["item_id"].isna().any():
        row = int(np.flatnonzero(((ids == "") | table["item_id"].isna()).to_numpy())[0])
        raise DataFormatError(str(file), row + 2, "item_id", "empty item id")
    n = len(table)

    def column(name: str) -> list[str]:
        if name not in table.columns:
            return [""] * n
        return ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
                for v in table[name].tolist()]

    categories: list[tuple[str, ...]] = []
    for value in (table["categories"].tolist() if "categories" in table.columns else [None] * n):
        if isinstance(value, str):
            parts = value.split("|")
        elif isinstance(value, (list, tuple, np.ndarray)):
            parts = [str(v) for v in value]
        else:
            parts = []
        categories.append(tuple(p.strip() for p in parts if p and p.strip()))
    created = (
        _parse_timestamps(table["created_at"]).to_numpy(dtype=np.float64)
        if "created_at" in table.columns
        else np.full(n, np.nan)
    )
    extra = [c for c in table.columns if c not in ITEM_FIELDS]
    attributes = [
        {c: v for c, v in row.items() if v is not None and v == v}
        for row in table[extra].to_dict("records")
    ] if extra else [{} for _ in range(n)]
    return item_frame(ids.to_numpy(), column("title"), column("text"), categories,
                      attributes, created)


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
