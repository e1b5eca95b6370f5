"""Building the raw event and item frames every loader returns, and the last cleaning step."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from pulserec.events.base import EVENT_COLUMNS, ITEM_COLUMNS, CleaningReport, Dataset
from pulserec.events.cleaning import clean

logger = logging.getLogger(__name__)


def event_frame(
    user_id: Any,
    item_id: Any,
    type_: Any,
    timestamp: Any,
    *,
    value: Any = None,
    text: Any = None,
    event_id: Any = None,
) -> pd.DataFrame:
    """A raw event frame with :data:`~pulserec.events.base.EVENT_COLUMNS`; scalars are broadcast."""
    columns = {
        "user_id": user_id,
        "item_id": item_id,
        "type": type_,
        "timestamp": timestamp,
        "value": value,
        "text": text,
        "event_id": event_id,
    }
    n = len(user_id)
    data = {}
    for name, column in columns.items():
        if isinstance(column, pd.Series):
            data[name] = column.reset_index(drop=True)
        elif isinstance(column, np.ndarray | list):
            data[name] = pd.Series(column)
        else:
            data[name] = pd.Series([column] * n, dtype=object)
    return pd.DataFrame(data, columns=list(EVENT_COLUMNS))


def item_frame(
    item_id: Any,
    title: Any,
    text: Any,
    categories: Sequence[tuple[str, ...]],
    attributes: Sequence[dict[str, Any]],
    created_at: Any,
) -> pd.DataFrame:
    """An item frame with :data:`~pulserec.events.base.ITEM_COLUMNS`, first row kept per id."""
    frame = pd.DataFrame(
        {
            "item_id": pd.Series(np.asarray(item_id, dtype=object), dtype="str").str.strip(),
            "title": pd.Series(np.asarray(title, dtype=object), dtype="str"),
            "text": pd.Series(np.asarray(text, dtype=object), dtype="str"),
            "categories": pd.Series(list(categories), dtype=object),
            "attributes": pd.Series(list(attributes), dtype=object),
            "created_at": np.asarray(created_at, dtype=np.float64),
        },
        columns=list(ITEM_COLUMNS),
    )
    return frame.drop_duplicates("item_id").reset_index(drop=True)


def items_of(events: pd.DataFrame) -> pd.DataFrame:
    """Bare items for every item id in the events, in first-seen order: no title and no
    text (an id is not text to read; pages show the id where there is no title)."""
    ids = events["item_id"].dropna().unique()
    n = len(ids)
    return item_frame(ids, [""] * n, [""] * n, [()] * n, [{} for _ in range(n)], np.full(n, np.nan))


def join_text(
    title: pd.Series,
    categories: Sequence[tuple[str, ...]],
    extra: Sequence[list[str]] | None = None,
) -> list[str]:
    """Item text: the title, then ``Genres: ...``, then any extra lines."""
    out = []
    for i, (t, cats) in enumerate(zip(title, categories, strict=True)):
        lines = [t]
        if cats:
            lines.append("Genres: " + ", ".join(cats))
        if extra is not None:
            lines.extend(extra[i])
        out.append("\n".join(lines))
    return out


def join_optional(first: pd.Series, second: pd.Series) -> pd.Series:
    """``first + "\\n" + second``, or whichever is present, or None."""
    a = first.astype("str").fillna("").str.strip()
    b = second.astype("str").fillna("").str.strip()
    joined = (a + "\n" + b).where((a != "") & (b != ""), a + b)
    return joined.astype(object).where(joined != "", None)


def finish(
    name: str,
    raw: pd.DataFrame,
    items: pd.DataFrame | None,
    *,
    value_range: tuple[float, float] | None,
    verbose: bool,
) -> Dataset:
    """Clean ``raw`` into a :class:`Dataset`; bare items from the events when ``items`` is None."""
    events, report = clean(raw, name, value_range=value_range)
    if items is None:
        items = items_of(events)
    show_report(report, verbose)
    return Dataset(name=name, events=events, items=items, report=report)


def show_report(report: CleaningReport, verbose: bool) -> None:
    """Log the cleaning report, and print it to stderr when ``verbose``."""
    logger.debug("%s", report)
    if verbose:
        from rich.console import Console

        Console(stderr=True, highlight=False).print(str(report), markup=False, soft_wrap=True)
