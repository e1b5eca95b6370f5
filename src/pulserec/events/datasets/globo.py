"""Globo.com (G1) news-portal clicks: the hourly ``clicks_hour_*.csv`` files, session by session."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pandas as pd

from pulserec.events.base import Dataset
from pulserec.events.cleaning import clean
from pulserec.events.files import PathLike, dataset_folder, read_delimited, require_values
from pulserec.events.frames import event_frame, item_frame, show_report

GLOBO_CLICK_FIELDS: tuple[str, ...] = (
    "user_id",
    "session_id",
    "session_start",
    "session_size",
    "click_article_id",
    "click_timestamp",
    "click_environment",
    "click_deviceGroup",
    "click_os",
    "click_country",
    "click_region",
    "click_referrer_type",
)
"""The header every hourly click file has."""

GLOBO_ARTICLE_FIELDS: tuple[str, ...] = (
    "article_id",
    "category_id",
    "created_at_ts",
    "publisher_id",
    "words_count",
)
"""The header of ``articles_metadata.csv`` (part of the full download, optional here)."""

LATE_AFTER = 3600.0
"""Default of ``late_after``: a click more than an hour after the last session start is late."""


def load_globo(
    path: PathLike, *, late_after: float | None = LATE_AFTER, verbose: bool = True
) -> Dataset:
    """Load Globo.com news-portal clicks (the "News Portal User Interactions" v2 files).

    Every row of every ``clicks_hour_*.csv`` is a ``click``: ``user_id``,
    ``item_id`` = ``click_article_id``, ``timestamp`` = ``click_timestamp``
    (milliseconds in the file, seconds here). The files are ordered by session,
    not by time; the events come out sorted by time.

    Sessions: :class:`~pulserec.types.Event` has no session field, so the
    session lives in ``event_id`` = ``f"{session_id}:{article_id}"`` (no session
    clicks an article twice, so the id is unique per click and a retry of it
    is recognised); ``event_id.str.split(":").str[0]`` gives the session back.
    The context columns (device, OS, country, region, referrer) have no place
    in the event schema and are not loaded.

    Late clicks: the files hold the sessions that *started* in their hours,
    and a few clicks are stamped long after every session start (in the
    one-day sample, 512 clicks of 140 users, up to 23 days later). Kept, they
    stretch a one-day timeline to weeks, so that any cut by time, time decay
    or item age measured on it is wrong, and they become the last click of
    those users (the test item of a leave-one-out split). They are therefore
    dropped by default and counted as ``late_click`` in the report.

    Items are the articles clicked in the kept events. The click files carry
    no text or title, so both stay empty (never the article id, which would
    be embedded as if it were text). When ``articles_metadata.csv`` (from the
    full download) is in the folder or its parent, ``created_at`` is the
    article's publication time, ``categories`` hold its ``category_id`` and
    ``attributes`` hold ``category_id``, ``publisher_id`` and ``words_count``;
    otherwise both are empty and ``created_at`` unknown.

    Parameters
    ----------
    path : path-like
        The folder of the ``clicks_hour_*.csv`` files, a folder with a
        ``clicks`` subfolder holding them (the layout of the download), or one
        of the files.
    late_after : float or None
        Seconds after the last session start in the files beyond which a click
        is dropped as late. ``None`` keeps every click.
    verbose : bool
        Print the cleaning report.

    Raises
    ------
    FileNotFoundError
        When no ``clicks_hour_*.csv`` file is found.
    DataFormatError
        When a file's header or a line's number of fields is wrong.
    """
    if late_after is not None and not late_after >= 0:
        raise ValueError(f"late_after: expected seconds >= 0 or None, got {late_after}")
    folder, files = _click_files(Path(path))
    raw = pd.concat(
        [read_delimited(f, GLOBO_CLICK_FIELDS, sep=",", header=True) for f in files],
        ignore_index=True,
    )
    clicked_at = pd.to_numeric(raw["click_timestamp"].str.strip(), errors="coerce") / 1000.0
    late = np.zeros(len(raw), dtype=bool)
    if late_after is not None and len(raw):
        started = pd.to_numeric(raw["session_start"].str.strip(), errors="coerce") / 1000.0
        late = (clicked_at > started.max() + late_after).to_numpy(dtype=bool)
    kept = raw[~late]
    session = kept["session_id"].str.strip()
    article = kept["click_article_id"].str.strip()
    events, report = clean(
        event_frame(
            kept["user_id"],
            article,
            "click",
            clicked_at[~late],
            event_id=(session + ":" + article).where((session != "") & (article != ""), None),
        ),
        "globo",
    )
    if late.any():
        report.rows_in += int(late.sum())
        report.dropped["late_click"] = int(late.sum())
    show_report(report, verbose)
    items = _article_items(events["item_id"].unique(), _metadata_file(folder))
    return Dataset(name="globo", events=events, items=items, report=report)


def _click_files(path: Path) -> tuple[Path, list[Path]]:
    """The folder holding the data and its hourly click files, in name order."""
    folder = dataset_folder(path)
    if path.is_file():
        return folder, [path]
    for candidate in (folder, folder / "clicks"):
        files = sorted(candidate.glob("clicks_hour_*.csv"))
        if files:
            return folder, files
    raise FileNotFoundError(errno.ENOENT, "no clicks_hour_*.csv file in the folder or in its "
                            "clicks/ subfolder", str(folder))


def _metadata_file(folder: Path) -> Path | None:
    for candidate in (folder / "articles_metadata.csv", folder.parent / "articles_metadata.csv"):
        if candidate.is_file():
            return candidate
    return None


def _article_items(article_ids: np.ndarray, metadata: Path | None) -> pd.DataFrame:
    """One item per clicked article: empty title and text, metadata where the file has it."""
    ids = pd.Series(article_ids, dtype=object).astype(str)
    n = len(ids)
    attributes: list[dict[str, object]] = [{} for _ in range(n)]
    created_at = np.full(n, np.nan)
    if metadata is not None:
        table = read_delimited(metadata, GLOBO_ARTICLE_FIELDS, sep=",", header=True)
        table["article_id"] = table["article_id"].str.strip()
        require_values(table, "article_id", metadata)
        table = table.drop_duplicates("article_id").set_index("article_id")
        row = table.index.get_indexer(pd.Index(ids))
        found = np.flatnonzero(row >= 0)
        created = pd.to_numeric(table["created_at_ts"], errors="coerce").to_numpy() / 1000.0
        words = pd.to_numeric(table["words_count"], errors="coerce").to_numpy()
        category = table["category_id"].str.strip().to_numpy(dtype=object)
        publisher = table["publisher_id"].str.strip().to_numpy(dtype=object)
        for i in found:
            r = row[i]
            attributes[i] = {
                "category_id": str(category[r]),
                "publisher_id": str(publisher[r]),
                "words_count": None if np.isnan(words[r]) else int(words[r]),
            }
            created_at[i] = created[r]
    categories = [(a["category_id"],) if a else () for a in attributes]
    return item_frame(ids, [""] * n, [""] * n, categories, attributes, created_at)
