"""The event table every loader produces and every later part reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

EVENT_COLUMNS: tuple[str, ...] = (
    "user_id",
    "item_id",
    "type",
    "timestamp",
    "value",
    "text",
    "event_id",
)
"""Columns of the canonical event frame, in order.

``user_id``/``item_id``/``type``/``text``/``event_id`` are strings (missing
values are NA: ``item_id`` is NaN for a search), ``timestamp`` is float seconds
since the epoch, ``value`` a float (NaN when absent). Rows are sorted by
``timestamp`` (stable) after loading.
"""

ITEM_COLUMNS: tuple[str, ...] = (
    "item_id",
    "title",
    "text",
    "categories",
    "attributes",
    "created_at",
)
"""Columns of the canonical item frame: ``categories`` holds tuples of strings,
``attributes`` dicts, ``created_at`` float seconds (NaN when unknown)."""


class DataFormatError(ValueError):
    """A data file is malformed; the message names the file, the line and the field."""

    def __init__(self, path: str, line: int | None, field: str | None, message: str) -> None:
        where = str(path)
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line
        self.field = field


@dataclass
class CleaningReport:
    """How many rows were read, kept and dropped, by reason."""

    source: str
    rows_in: int = 0
    rows_out: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def n_dropped(self) -> int:
        return sum(self.dropped.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "dropped": dict(self.dropped),
        }

    def __str__(self) -> str:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(self.dropped.items())) or "none"
        return (
            f"{self.source}: read {self.rows_in} rows, kept {self.rows_out}, "
            f"dropped {self.n_dropped} ({reasons})"
        )


@dataclass
class Dataset:
    """Events and items of one source, cleaned.

    ``events`` has :data:`EVENT_COLUMNS`, ``items`` has :data:`ITEM_COLUMNS`.
    """

    name: str
    events: pd.DataFrame
    items: pd.DataFrame
    report: CleaningReport

    @property
    def n_users(self) -> int:
        return int(self.events["user_id"].nunique())

    @property
    def n_items(self) -> int:
        return int(self.events["item_id"].nunique())

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, events={len(self.events)}, users={self.n_users}, "
            f"items={len(self.items)})"
        )
