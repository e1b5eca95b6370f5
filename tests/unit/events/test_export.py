"""The event log exported to Parquet: the positive events, weighted as the factor model is."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq

from pulserec.events.export import EXPORT_SCHEMA, export_events


def test_export_keeps_positive_events_in_time_order_with_unit_weights(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame = pd.DataFrame(
        {
            "user_id": ["a", "a", "b", "b", "a", "c"],
            "item_id": ["x", "y", "x", None, "x", "z"],
            "type": ["click", "dislike", "purchase", "search", "view", "impression"],
            "timestamp": [3.0, 4.0, 1.0, 2.0, 5.0, 6.0],
            "value": [None] * 6,
            "text": [None, None, None, "tea", None, None],
        }
    )
    path = export_events(frame, tmp_path / "log" / "events.parquet")
    table = pq.read_table(path)
    assert table.schema == EXPORT_SCHEMA
    # the dislike, the search (no item) and the bare impression are left out; a's two
    # events on x stay two rows, which a trainer reads as one interaction
    assert table.to_pydict() == {
        "user_id": ["b", "a", "a"],
        "item_id": ["x", "x", "x"],
        "weight": [1.0, 1.0, 1.0],
        "timestamp": [1.0, 3.0, 5.0],
    }
