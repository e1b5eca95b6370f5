"""The event log exported to Parquet for training outside the engine's process.

One row per positive event: ``user_id``, ``item_id`` (raw ids, strings), ``weight``
(float32) and ``timestamp`` (float64 seconds). The weighting is the one the engine's
factor model is fitted with (:meth:`pulserec.events.interactions.Interactions.from_events`):
every positive event weighs 1, and a user's several events on one item count as one
interaction (a trainer reading the export keeps the largest weight of a pair). Negative
event types (dislike, skip, bare impressions) and events without an item are left out.

Examples
--------
>>> import pandas as pd
>>> frame = pd.DataFrame({"user_id": ["a", "a"], "item_id": ["x", "y"],
...                       "type": ["click", "dislike"], "timestamp": [1.0, 2.0]})
>>> positive_events(frame)["item_id"].tolist()
['x']
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pulserec.types import NEGATIVE_TYPES

EXPORT_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("weight", pa.float32()),
        ("timestamp", pa.float64()),
    ]
)
"""The columns of an export, in order."""


def positive_events(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of an event frame the factor model learns from: an item, a positive type."""
    return frame[frame["item_id"].notna() & ~frame["type"].isin(NEGATIVE_TYPES)]


def export_events(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write the positive events of ``frame`` (columns ``user_id``, ``item_id``, ``type``,
    ``timestamp``) to one Parquet file in :data:`EXPORT_SCHEMA`, in time order.

    Returns the path written.
    """
    pos = positive_events(frame)
    order = np.argsort(pos["timestamp"].to_numpy(dtype=np.float64), kind="stable")
    pos = pos.iloc[order]
    table = pa.table(
        {
            "user_id": pa.array(pos["user_id"].astype(str).tolist(), pa.string()),
            "item_id": pa.array(pos["item_id"].astype(str).tolist(), pa.string()),
            "weight": pa.array(np.ones(len(pos), dtype=np.float32)),
            "timestamp": pa.array(pos["timestamp"].to_numpy(dtype=np.float64)),
        },
        schema=EXPORT_SCHEMA,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path
