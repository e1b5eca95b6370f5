"""clean(): each drop reason counted exactly, dtypes normalised, order kept."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pulserec.events import DROP_REASONS, EVENT_COLUMNS, clean


def _raw(rows: list[tuple[object, ...]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(EVENT_COLUMNS), dtype=object)


def test_each_reason_is_counted_exactly() -> None:
    raw = _raw(
        [
            ("u1", "i1", "click", "10", None, None, None),  # kept
            ("", "i1", "click", 11, None, None, None),  # missing_user_id
            (None, "i1", "click", 12, None, None, None),  # missing_user_id
            ("   ", None, "bogus", "x", None, None, None),  # missing_user_id (first reason)
            ("u2", None, "click", 13, None, None, None),  # missing_item_id
            ("u2", " ", "rate", 14, 3, None, None),  # missing_item_id
            ("u3", "i2", "click", -1, None, None, None),  # invalid_timestamp
            ("u3", "i2", "click", "soon", None, None, None),  # invalid_timestamp
            ("u3", "i2", "click", float("inf"), None, None, None),  # invalid_timestamp
            ("u3", "i2", "click", None, None, None, None),  # invalid_timestamp
            ("u4", "i3", "watch", 15, None, None, None),  # unknown_event_type
            ("u4", "i3", None, 16, None, None, None),  # unknown_event_type
            ("u5", None, "search", 17, None, "  ", None),  # missing_search_text
            ("u6", "i4", "rate", 18, 6, None, None),  # out_of_range_value
            ("u6", "i4", "rate", 19, "three", None, None),  # out_of_range_value
            ("u6", "i4", "rate", 20, "inf", None, None),  # out_of_range_value
            ("u6", "i4", "rate", 21, "0.99", None, None),  # out_of_range_value
            ("u1", "i1", "click", 10.0, None, None, None),  # duplicate of row 0
            ("u7", None, "search", 22, None, "red shoes", None),  # kept (search, no item)
            ("u6", "i4", "rate", 23, "5", None, None),  # kept (upper bound inclusive)
            ("u6", "i4", "rate", 24, 1, None, None),  # kept (lower bound inclusive)
        ]
    )
    events, report = clean(raw, "tiny", value_range=(1, 5))

    assert report.source == "tiny"
    assert report.rows_in == 21
    assert report.rows_out == 4
    assert report.dropped == {
        "missing_user_id": 3,
        "missing_item_id": 2,
        "invalid_timestamp": 4,
        "unknown_event_type": 2,
        "missing_search_text": 1,
        "out_of_range_value": 4,
        "duplicate": 1,
    }
    assert list(report.dropped) == [r for r in DROP_REASONS if r in report.dropped]
    assert report.n_dropped == 17
    assert events["user_id"].tolist() == ["u1", "u7", "u6", "u6"]
    assert events["timestamp"].tolist() == [10.0, 22.0, 23.0, 24.0]
    assert events["value"].tolist()[2:] == [5.0, 1.0]
    assert events["text"].tolist() == [None, "red shoes", None, None]


def test_dtypes_are_normalised() -> None:
    raw = pd.DataFrame(
        {
            "user_id": [7, 8],
            "item_id": [1.0, 2.0],  # an integer id column that once held a NaN
            "type": [" Click", "RATE "],
            "timestamp": ["100", "2.5"],
            "value": [None, "4"],
            "text": ["", "nice"],
            "event_id": [None, 12],
        }
    )
    events, report = clean(raw, "dtypes")

    assert list(events.columns) == list(EVENT_COLUMNS)
    assert report.dropped == {}
    assert str(events["user_id"].dtype) == "str"
    assert str(events["item_id"].dtype) == "str"
    assert str(events["type"].dtype) == "str"
    assert events["timestamp"].dtype == np.float64
    assert events["value"].dtype == np.float64
    assert events["text"].dtype == object
    assert events["event_id"].dtype == object
    # Sorted by time: "2.5" comes before "100".
    assert events["user_id"].tolist() == ["8", "7"]
    assert events["item_id"].tolist() == ["2", "1"]
    assert events["type"].tolist() == ["rate", "click"]
    assert events["timestamp"].tolist() == [2.5, 100.0]
    assert events["value"].iloc[0] == 4.0
    assert math.isnan(events["value"].iloc[1])
    assert events["text"].tolist() == ["nice", None]
    assert events["event_id"].tolist() == ["12", None]
    assert isinstance(events.index, pd.RangeIndex)


def test_optional_columns_may_be_absent() -> None:
    raw = pd.DataFrame({"user_id": ["u"], "item_id": ["i"], "type": ["view"], "timestamp": [1]})
    events, _ = clean(raw, "minimal")
    assert list(events.columns) == list(EVENT_COLUMNS)
    assert math.isnan(events["value"].iloc[0])
    assert events["text"].tolist() == [None]
    assert events["event_id"].tolist() == [None]


def test_missing_required_column_is_named() -> None:
    raw = pd.DataFrame({"user_id": ["u"], "item_id": ["i"], "timestamp": [1]})
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['type'\]"):
        clean(raw, "broken")


def test_sort_is_stable_and_index_is_reset() -> None:
    raw = pd.DataFrame(
        {
            "user_id": ["a", "b", "c", "d"],
            "item_id": ["i", "i", "i", "i"],
            "type": ["view"] * 4,
            "timestamp": [5, 1, 5, 1],
        },
        index=[40, 30, 20, 10],
    )
    events, _ = clean(raw, "order")
    assert events["user_id"].tolist() == ["b", "d", "a", "c"]
    assert events.index.tolist() == [0, 1, 2, 3]


def test_duplicates_keep_the_first_and_need_every_field_equal() -> None:
    raw = _raw(
        [
            ("u", "i", "click", 1, None, None, "e1"),
            ("u", "i", "click", 1, None, None, "e2"),  # other event id: not a duplicate
            ("u", "i", "click", 1, None, None, "e1"),  # duplicate
            ("u", "i", "click", 1, 1.0, None, "e1"),  # other value: not a duplicate
            (" u ", "i", "CLICK", "1", None, "", "e1"),  # equal after normalisation
        ]
    )
    events, report = clean(raw, "dups")
    assert report.dropped == {"duplicate": 2}
    assert events["event_id"].tolist() == ["e1", "e2", "e1"]
    assert events["value"].isna().tolist() == [True, True, False]


def test_datetime_timestamps_become_epoch_seconds() -> None:
    raw = pd.DataFrame(
        {
            "user_id": ["a", "b"],
            "item_id": ["i", "j"],
            "type": ["view", "view"],
            "timestamp": pd.to_datetime(
                ["1970-01-01T00:01:00+00:00", "2020-01-01T01:00:00+01:00"],
                format="ISO8601",
                utc=True,
            ),
        }
    )
    events, _ = clean(raw, "dt")
    assert events["timestamp"].tolist() == [60.0, 1577836800.0]


def test_non_finite_numeric_values_are_out_of_range_without_a_range() -> None:
    raw = pd.DataFrame(
        {
            "user_id": ["a", "b", "c"],
            "item_id": ["i", "i", "i"],
            "type": ["rate"] * 3,
            "timestamp": [1.0, 2.0, 3.0],
            "value": [np.inf, np.nan, 100.0],
        }
    )
    events, report = clean(raw, "values")
    assert report.dropped == {"out_of_range_value": 1}
    assert events["user_id"].tolist() == ["b", "c"]


def test_naive_datetime_timestamps_are_read_as_utc() -> None:
    raw = pd.DataFrame(
        {
            "user_id": ["a"],
            "item_id": ["i"],
            "type": ["view"],
            "timestamp": pd.to_datetime(["2020-01-01 00:00:00"]),
        }
    )
    events, _ = clean(raw, "naive")
    assert events["timestamp"].tolist() == [1577836800.0]


def test_empty_frame() -> None:
    events, report = clean(_raw([]), "empty")
    assert events.empty
    assert list(events.columns) == list(EVENT_COLUMNS)
    assert events["timestamp"].dtype == np.float64
    assert (report.rows_in, report.rows_out, report.dropped) == (0, 0, {})


def test_report_text() -> None:
    raw = _raw([("", "i", "view", 1, None, None, None), ("u", "i", "view", 1, None, None, None)])
    _, report = clean(raw, "src")
    assert str(report) == "src: read 2 rows, kept 1, dropped 1 (missing_user_id: 1)"
    assert report.to_dict() == {
        "source": "src",
        "rows_in": 2,
        "rows_out": 1,
        "dropped": {"missing_user_id": 1},
    }
