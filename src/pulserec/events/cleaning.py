"""Cleaning of raw event frames: drop unusable rows, count them by reason, fix dtypes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pulserec.events.base import EVENT_COLUMNS, CleaningReport
from pulserec.types import EVENT_TYPES, EventType

DROP_REASONS: tuple[str, ...] = (
    "missing_user_id",
    "missing_item_id",
    "invalid_timestamp",
    "unknown_event_type",
    "missing_search_text",
    "out_of_range_value",
    "duplicate",
)
"""Why :func:`clean` drops a row, in the order the checks run.

A row that fails several checks is counted once, under the first failing reason.
"""

_REQUIRED = ("user_id", "item_id", "type", "timestamp")


def clean(
    frame: pd.DataFrame,
    source: str,
    *,
    value_range: tuple[float, float] | None = None,
) -> tuple[pd.DataFrame, CleaningReport]:
    """Drop unusable events, normalise dtypes and sort by time.

    Rows are dropped, and counted in the report under the first reason that
    applies (see :data:`DROP_REASONS`):

    ``missing_user_id``
        the user id is missing or blank.
    ``missing_item_id``
        the item id is missing or blank and the type is not ``search``.
    ``invalid_timestamp``
        the timestamp is not a finite number >= 0 (numeric strings and
        ``datetime64`` columns are accepted).
    ``unknown_event_type``
        the type, stripped and lower-cased, is not in
        :data:`pulserec.types.EVENT_TYPES`.
    ``missing_search_text``
        a ``search`` event without query text (:class:`pulserec.types.Event`
        would reject it).
    ``out_of_range_value``
        a value is present but not a finite number (a non-numeric string
        included), or lies outside the inclusive ``value_range``.
    ``duplicate``
        an exact repeat, after normalisation, of an earlier kept row; the
        first one is kept.

    Parameters
    ----------
    frame : DataFrame
        Raw events with the columns of :data:`~pulserec.events.base.EVENT_COLUMNS`;
        ``value``, ``text`` and ``event_id`` may be absent. Other columns are
        ignored.
    source : str
        Names the data in the report.
    value_range : (float, float), optional
        Inclusive bounds of a valid ``value``; absent values always pass.

    Returns
    -------
    events : DataFrame
        Exactly :data:`EVENT_COLUMNS`: ``user_id``, ``item_id``, ``type`` as
        pandas ``str`` (surrounding whitespace removed; a missing ``item_id``
        of a search is NaN), ``timestamp`` and ``value`` float64 (NaN when
        absent), ``text`` and ``event_id`` object with ``None`` when absent.
        Sorted by timestamp (stable), with a fresh ``RangeIndex``.
    report : CleaningReport
        Counts per reason; reasons that dropped nothing are left out.

    Examples
    --------
    >>> raw = pd.DataFrame({"user_id": ["u1", "", "u1"], "item_id": ["i1", "i2", "i1"],
    ...                     "type": ["click"] * 3, "timestamp": ["5", 6, 5.0]})
    >>> events, report = clean(raw, "demo")
    >>> len(events), report.dropped
    (1, {'missing_user_id': 1, 'duplicate': 1})
    """
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{source}: event frame lacks column(s) {missing}; it has {list(frame.columns)}"
        )
    # Positional alignment: every derived column below gets a fresh RangeIndex.
    frame = frame.reset_index(drop=True)
    n = len(frame)
    user_id = _ids(frame["user_id"])
    item_id = _ids(frame["item_id"])
    etype = _ids(frame["type"]).str.lower()
    timestamp = _timestamps(frame["timestamp"])
    value, bad_value = _values(frame["value"] if "value" in frame else None, n)
    text = _optional_text(frame["text"] if "text" in frame else None, n, strip=False)
    event_id = _optional_text(frame["event_id"] if "event_id" in frame else None, n, strip=True)

    is_search = (etype == EventType.SEARCH.value).to_numpy(dtype=bool, na_value=False)
    if value_range is not None:
        low, high = value_range
        with np.errstate(invalid="ignore"):
            bad_value |= (value < low) | (value > high)
    checks = {
        "missing_user_id": user_id.isna().to_numpy(),
        "missing_item_id": item_id.isna().to_numpy() & ~is_search,
        "invalid_timestamp": ~(np.isfinite(timestamp) & (timestamp >= 0)),
        "unknown_event_type": ~etype.isin(EVENT_TYPES).to_numpy(),
        "missing_search_text": is_search & text.isna().to_numpy(),
        "out_of_range_value": bad_value,
    }
    out = pd.DataFrame(
        {
            "user_id": user_id,
            "item_id": item_id,
            "type": etype,
            "timestamp": timestamp,
            "value": value,
            "text": text,
            "event_id": event_id,
        },
        columns=list(EVENT_COLUMNS),
    )
    report = CleaningReport(source=source, rows_in=n)
    keep = np.ones(n, dtype=bool)
    for reason, bad in checks.items():
        _count(report, reason, keep & bad)
        keep &= ~bad
    out = out[keep]
    dup = out.duplicated(keep="first").to_numpy()
    _count(report, "duplicate", dup)
    out = out[~dup].sort_values("timestamp", kind="stable").reset_index(drop=True)
    report.rows_out = len(out)
    return out, report


def _count(report: CleaningReport, reason: str, dropped: np.ndarray) -> None:
    k = int(np.count_nonzero(dropped))
    if k:
        report.dropped[reason] = k


def _ids(series: pd.Series) -> pd.Series:
    """Strings with surrounding whitespace removed; blank becomes NaN."""
    s = series
    if pd.api.types.is_float_dtype(s.dtype):
        # An integer id column that held a missing value arrives as float;
        # "42" rather than "42.0" is the id the user wrote.
        finite = s.dropna()
        if bool((finite == np.floor(finite)).all()):
            s = s.astype("Int64")
    s = s.astype("str").str.strip()
    return s.where(s != "")


def _timestamps(series: pd.Series) -> np.ndarray:
    """Seconds since the epoch as float64, NaN where not a number."""
    s = series
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return (s - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=np.float64)
    if pd.api.types.is_datetime64_dtype(s.dtype):
        return (s - pd.Timestamp(0)).dt.total_seconds().to_numpy(dtype=np.float64)
    if pd.api.types.is_bool_dtype(s.dtype):
        return np.full(len(s), np.nan)
    if pd.api.types.is_numeric_dtype(s.dtype):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    return _to_float(s)


def _values(series: pd.Series | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Float values (NaN when absent) and a mask of present-but-unusable ones."""
    if series is None:
        return np.full(n, np.nan), np.zeros(n, dtype=bool)
    if pd.api.types.is_bool_dtype(series.dtype):
        series = series.astype(float)
    if pd.api.types.is_numeric_dtype(series.dtype):
        value = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return value, np.isinf(value)
    text = series.astype("str").str.strip()
    absent = (text.isna() | (text == "")).to_numpy()
    value = _to_float(text)
    # A present value that did not parse (or parsed to nan/inf) is unusable.
    bad = ~absent & ~np.isfinite(value)
    return np.where(absent, np.nan, value), bad


def _to_float(series: pd.Series) -> np.ndarray:
    """Numbers of a column as float64, NaN where an entry is not a number."""
    if isinstance(series.dtype, pd.StringDtype):
        try:
            # The arrow cast is several times faster than to_numeric; it only
            # fails when some entry is not a number.
            return series.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
        except ValueError:
            series = series.str.strip()
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _optional_text(series: pd.Series | None, n: int, *, strip: bool) -> pd.Series:
    """Object strings, ``None`` for missing or blank entries."""
    if series is None:
        return pd.Series([None] * n, dtype=object)
    if pd.api.types.is_float_dtype(series.dtype) and strip:
        finite = series.dropna()
        if bool((finite == np.floor(finite)).all()):
            series = series.astype("Int64")
    s = series.astype("str")
    blank = s.isna() | (s.str.strip() == "")
    if strip:
        s = s.str.strip()
    return s.astype(object).where(~blank, None)
