"""Loaders that turn public datasets and generic event tables into a :class:`Dataset`.

Every loader reads local files, builds a raw event frame, runs
:func:`~pulserec.events.cleaning.clean` on it and returns the events, the items
and the cleaning report. The MovieLens loaders download the public zip into
``~/.cache/pulserec`` when ``path`` is ``None``.

Two kinds of trouble are told apart:

* a structurally broken *line* (wrong number of fields, undecodable JSON, a MIND
  time or impression label that does not follow the format) raises
  :class:`~pulserec.events.base.DataFormatError` naming the file, the 1-based
  line and the field;
* a bad *value* in a well-formed line (a blank id, a rating that is not a
  number or out of range, a negative timestamp) drops that row and is counted
  in the :class:`~pulserec.events.base.CleaningReport`.

A required file that is missing raises :class:`FileNotFoundError` naming it.
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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeAlias

import numpy as np
import pandas as pd

from pulserec.events.base import (
    EVENT_COLUMNS,
    ITEM_COLUMNS,
    CleaningReport,
    DataFormatError,
    Dataset,
)
from pulserec.events.cleaning import clean
from pulserec.types import EVENT_TYPES

logger = logging.getLogger(__name__)

PathLike: TypeAlias = str | os.PathLike[str]

ML_100K_GENRES: tuple[str, ...] = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
"""The 19 genre flags of ``u.item``, in column order (used when ``u.genre`` is absent)."""

MOVIELENS_URL = "https://files.grouplens.org/datasets/movielens/{name}.zip"
MOVIELENS_NAMES: tuple[str, ...] = ("ml-100k", "ml-1m", "ml-10m", "ml-latest-small", "ml-latest")
"""MovieLens archives :func:`download_movielens` knows."""

_NO_GENRES = "(no genres listed)"


# --------------------------------------------------------------------------- MovieLens


def load_movielens_100k(path: PathLike | None = None, *, verbose: bool = True) -> Dataset:
    """Load MovieLens 100K: ``u.data`` ratings and ``u.item`` movies.

    Parameters
    ----------
    path : path-like, optional
        The ``ml-100k`` folder (or any file inside it). ``None`` downloads the
        archive into ``~/.cache/pulserec``.
    verbose : bool
        Print the cleaning report.

    Returns
    -------
    Dataset
        ``rate`` events with ``value`` = stars (1-5; others are dropped as
        out of range). Items carry the title, the genre names as categories,
        ``attributes`` ``{"release_date", "imdb_url"}``, ``created_at`` = the
        release date, and ``text`` = title and genres.
    """
    folder = _folder(path, "ml-100k")
    ratings_file = _require(folder, "u.data", "MovieLens 100K ratings")
    items_file = _require(folder, "u.item", "MovieLens 100K movies")
    ratings = _read_delimited(ratings_file, ("user_id", "item_id", "rating", "timestamp"), sep="\t")
    events = _event_frame(ratings["user_id"], ratings["item_id"], "rate", ratings["timestamp"],
                          value=ratings["rating"])

    genres = _read_genre_names(folder / "u.genre")
    names = ("item_id", "title", "release_date", "video_release_date", "imdb_url", *genres)
    raw = _read_delimited(items_file, names, sep="|", data=_utf8(items_file.read_bytes()))
    _require_values(raw, "item_id", items_file)
    flags = raw[list(genres)]
    valid = flags.isin(["0", "1"]).to_numpy()
    if not valid.all():
        row, col = np.argwhere(~valid)[0]
        raise DataFormatError(str(items_file), int(raw["_line"].iloc[row]), genres[col],
                              f"genre flag must be 0 or 1, got {flags.iat[row, col]!r}")
    has_genre = (flags == "1").to_numpy()
    genre_names = np.asarray(genres, dtype=object)
    categories = [tuple(genre_names[mask]) for mask in has_genre]
    title = raw["title"].str.strip()
    release = pd.to_datetime(raw["release_date"], format="%d-%b-%Y", errors="coerce")
    items = _item_frame(
        raw["item_id"],
        title,
        _join_text(title, categories),
        categories,
        [{"release_date": d, "imdb_url": u} for d, u in zip(raw["release_date"], raw["imdb_url"],
                                                             strict=True)],
        (release - pd.Timestamp(0)).dt.total_seconds(),
    )
    return _finish("ml-100k", events, items, value_range=(1.0, 5.0), verbose=verbose)


def load_movielens_dat(path: PathLike | None = None, *, verbose: bool = True) -> Dataset:
    """Load MovieLens 1M / 10M (``::``-separated ``ratings.dat`` and ``movies.dat``).

    ``tags.dat`` (10M) is read when present, as in :func:`load_movielens_latest`.
    Text files are decoded as UTF-8, falling back to latin-1 (the 1M titles).

    Parameters
    ----------
    path : path-like, optional
        The extracted folder. ``None`` downloads ``ml-1m``.
    verbose : bool
        Print the cleaning report.

    Returns
    -------
    Dataset
        ``rate`` events with ``value`` in 0.5-5.
    """
    folder = _folder(path, "ml-1m")
    ratings_file = _require(folder, "ratings.dat", "MovieLens ratings")
    movies_file = _require(folder, "movies.dat", "MovieLens movies")
    ratings = _read_delimited(
        ratings_file,
        ("user_id", "item_id", "rating", "timestamp"),
        sep="\x1f",
        data=_dat(ratings_file.read_bytes()),
    )
    events = _event_frame(ratings["user_id"], ratings["item_id"], "rate", ratings["timestamp"],
                          value=ratings["rating"])
    movies = _read_delimited(movies_file, ("item_id", "title", "genres"), sep="\x1f",
                             data=_dat(_utf8(movies_file.read_bytes())))
    tags = None
    tags_file = folder / "tags.dat"
    if tags_file.is_file():
        tags = _read_delimited(tags_file, ("user_id", "item_id", "tag", "timestamp"), sep="\x1f",
                               data=_dat(_utf8(tags_file.read_bytes())))
    items = _movies_items(movies, movies_file, tags)
    return _finish(folder.name, events, items, value_range=(0.5, 5.0), verbose=verbose)


def load_movielens_latest(path: PathLike | None = None, *, verbose: bool = True) -> Dataset:
    """Load MovieLens "latest" (``ratings.csv``, ``movies.csv``, ``tags.csv``).

    Tags are aggregated per movie: the distinct tags (case-insensitively, first
    spelling kept, in file order) go into ``attributes["tags"]`` and into the
    item text after the title and genres. ``tags.csv`` is optional. Genre
    ``(no genres listed)`` gives no category.

    Parameters
    ----------
    path : path-like, optional
        The extracted folder. ``None`` downloads ``ml-latest-small``.
    verbose : bool
        Print the cleaning report.

    Returns
    -------
    Dataset
        ``rate`` events with ``value`` in 0.5-5.
    """
    folder = _folder(path, "ml-latest-small")
    ratings_file = _require(folder, "ratings.csv", "MovieLens ratings")
    movies_file = _require(folder, "movies.csv", "MovieLens movies")
    ratings = _read_delimited(ratings_file, ("userId", "movieId", "rating", "timestamp"),
                              sep=",", header=True, quoted=True)
    events = _event_frame(ratings["userId"], ratings["movieId"], "rate", ratings["timestamp"],
                          value=ratings["rating"])
    movies = _read_delimited(movies_file, ("movieId", "title", "genres"), sep=",", header=True,
                             quoted=True, data=_utf8(movies_file.read_bytes()))
    movies = movies.rename(columns={"movieId": "item_id"})
    tags = None
    tags_file = folder / "tags.csv"
    if tags_file.is_file():
        tags = _read_delimited(tags_file, ("userId", "movieId", "tag", "timestamp"), sep=",",
                               header=True, quoted=True, data=_utf8(tags_file.read_bytes()))
        tags = tags.rename(columns={"movieId": "item_id"})
    items = _movies_items(movies, movies_file, tags)
    return _finish(folder.name, events, items, value_range=(0.5, 5.0), verbose=verbose)


def _movies_items(movies: pd.DataFrame, path: Path, tags: pd.DataFrame | None) -> pd.DataFrame:
    """Items of a ``movies`` table (``item_id``, ``title``, ``genres``) plus its tags."""
    _require_values(movies, "item_id", path)
    movies = movies.drop_duplicates("item_id")
    item_id = movies["item_id"].str.strip()
    title = movies["title"].str.strip()
    genre_lists = movies["genres"].str.split("|").tolist()
    categories = [
        tuple(g.strip() for g in gs if g.strip() and g.strip() != _NO_GENRES) for gs in genre_lists
    ]
    tag_lists: list[list[str]] = [[] for _ in range(len(movies))]
    if tags is not None:
        tag = tags["tag"].str.strip()
        frame = pd.DataFrame({"item_id": tags["item_id"].str.strip(), "tag": tag,
                              "key": tag.str.lower()})
        frame = frame[frame["tag"] != ""].drop_duplicates(["item_id", "key"])
        per_item = frame.groupby("item_id", sort=False)["tag"].agg(list)
        position = pd.Series(np.arange(len(movies)), index=item_id.to_numpy())
        for iid, values in per_item.items():
            pos = position.get(iid)
            if pos is not None:
                tag_lists[int(pos)] = values
    extra = [["Tags: " + ", ".join(t)] if t else [] for t in tag_lists]
    return _item_frame(
        item_id,
        title,
        _join_text(title, categories, extra),
        categories,
        [{"tags": t} for t in tag_lists],
        np.full(len(movies), np.nan),
    )


def _read_genre_names(path: Path) -> tuple[str, ...]:
    """Genre names from ``u.genre`` (``name|id``), ordered by id; the standard list if absent."""
    if not path.is_file():
        return ML_100K_GENRES
    raw = _read_delimited(path, ("name", "id"), sep="|", data=_utf8(path.read_bytes()))
    ids = pd.to_numeric(raw["id"], errors="coerce")
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise DataFormatError(str(path), int(raw["_line"].iloc[row]), "id",
                              f"genre id must be an integer, got {raw['id'].iloc[row]!r}")
    names = tuple(raw["name"].str.strip().to_numpy()[np.argsort(ids.to_numpy(), kind="stable")])
    if len(names) != len(ML_100K_GENRES):
        raise DataFormatError(str(path), None, None,
                              f"expected {len(ML_100K_GENRES)} genres, found {len(names)}")
    return names


# --------------------------------------------------------------------------- MIND


class Impression(NamedTuple):
    """One MIND impression: what a user was shown and which of it they clicked."""

    impression_id: str
    user_id: str
    timestamp: float
    history: list[str]
    candidates: list[str]
    labels: np.ndarray
    """int8 per candidate: 1 clicked, 0 not clicked, -1 unlabelled (MIND test split)."""


def load_mind(path: PathLike, *, verbose: bool = True) -> Dataset:
    """Load MIND (``behaviors.tsv`` and ``news.tsv``) as click and impression events.

    Events:

    * each impression candidate ``newsid-1`` becomes a ``click`` and ``newsid-0``
      an ``impression`` (shown, not clicked), at the impression's time, with
      ``event_id`` ``f"{impression_id}:{newsid}"``. Unlabelled candidates (the
      MIND test split) produce no event.
    * each user's click history becomes ``click`` events once per user, not
      once per impression: the longest history seen for the user (the first
      one on ties). The true history times are unknown, so entry ``p`` (0-based)
      of a history of length ``n`` is placed at ``t0 - (n - p)`` seconds, where
      ``t0`` is the user's first impression time: strictly before every
      impression and in the original order. ``event_id`` is ``None``.

    MIND times (``M/D/YYYY h:mm:ss AM/PM``) carry no zone and are read as UTC. A
    time that does not follow that format raises :class:`DataFormatError`:
    it signals a file in another format rather than one bad row.

    Items are the rows of ``news.tsv``: ``categories`` (category, subcategory),
    ``text`` title and abstract, ``attributes`` url and the parsed entity lists.
    News ids used by events but absent from ``news.tsv`` stay valid item ids.

    Parameters
    ----------
    path : path-like
        The folder holding both files.
    verbose : bool
        Print the cleaning report.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    folder = _folder(path, None)
    behaviors, behaviors_file = _read_behaviors(folder)
    news_file = _require(folder, "news.tsv", "MIND news")
    cand_row, cand_news, cand_label = _expand_candidates(behaviors, behaviors_file)

    labelled = cand_label >= 0
    rows = cand_row[labelled]
    news = cand_news.filter(pa.array(labelled))
    impression_ids = pc.take(pa.array(behaviors["impression_id"]), pa.array(rows))
    event_id = pc.binary_join_element_wise(
        impression_ids.cast(pa.large_string()),
        news.cast(pa.large_string()),
        pa.scalar(":", pa.large_string()),
    )
    impression_events = _event_frame(
        behaviors["user_id"].take(rows),
        pd.Series(news, dtype="str"),
        np.where(cand_label[labelled] == 1, "click", "impression"),
        behaviors["timestamp"].take(rows),
        event_id=pd.Series(event_id, dtype="str"),
    )
    events = pd.concat([_history_events(behaviors), impression_events], ignore_index=True)
    items = _read_news(news_file)
    return _finish("mind", events, items, value_range=None, verbose=verbose)


def load_mind_impressions(path: PathLike) -> list[Impression]:
    """Every row of a MIND ``behaviors.tsv``, for impression-ranking evaluation.

    Parameters
    ----------
    path : path-like
        ``behaviors.tsv`` or the folder holding it.

    Returns
    -------
    list of Impression
        In file order; ``labels`` is an int8 array aligned with ``candidates``.
    """
    behaviors, behaviors_file = _read_behaviors(Path(path))
    cand_row, cand_news, cand_label = _expand_candidates(behaviors, behaviors_file)
    n = len(behaviors)
    cuts = np.cumsum(np.bincount(cand_row, minlength=n))[:-1]
    candidates = np.split(np.asarray(cand_news.to_pylist(), dtype=object), cuts)
    labels = np.split(cand_label, cuts)
    return [
        Impression(imp, user, float(ts), history.split(), cands.tolist(), lab)
        for imp, user, ts, history, cands, lab in zip(
            behaviors["impression_id"],
            behaviors["user_id"],
            behaviors["timestamp"],
            behaviors["history"],
            candidates if n else [],
            labels if n else [],
            strict=True,
        )
    ]


_BEHAVIOR_FIELDS = ("impression_id", "user_id", "time", "history", "impressions")
_NEWS_FIELDS = ("news_id", "category", "subcategory", "title", "abstract", "url",
                "title_entities", "abstract_entities")


def _read_behaviors(path: Path) -> tuple[pd.DataFrame, Path]:
    """``behaviors.tsv`` with ids stripped and a float ``timestamp`` column."""
    file = path if path.is_file() else _require(path, "behaviors.tsv", "MIND behaviors")
    raw = _read_delimited(file, _BEHAVIOR_FIELDS, sep="\t")
    for field in ("impression_id", "user_id"):
        raw[field] = raw[field].str.strip()
        _require_values(raw, field, file)
    time = pd.to_datetime(raw["time"].str.strip(), format="%m/%d/%Y %I:%M:%S %p",
                          errors="coerce")
    bad = time.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataFormatError(str(file), int(raw["_line"].iloc[row]), "time",
                              f"expected M/D/YYYY h:mm:ss AM/PM, got {raw['time'].iloc[row]!r}")
    raw["timestamp"] = (time - pd.Timestamp(0)).dt.total_seconds()
    return raw, file


def _split_tokens(series: pd.Series) -> tuple[np.ndarray, Any]:
    """Whitespace-separated tokens of every row: (row of each token, arrow array of tokens)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    strings = pa.array(series, type=pa.large_string())
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    lists = pc.utf8_split_whitespace(strings)
    tokens = pc.list_flatten(lists)
    rows = np.asarray(pc.list_parent_indices(lists), dtype=np.int64)
    # An empty string splits into one empty token.
    keep = pc.greater(pc.utf8_length(tokens), 0)
    return rows[np.asarray(keep, dtype=bool)], tokens.filter(keep)


def _expand_candidates(behaviors: pd.DataFrame, path: Path) -> tuple[np.ndarray, Any, np.ndarray]:
    """One entry per impression candidate: row of ``behaviors``, news id, label (-1 unknown)."""
    import pyarrow.compute as pc

    rows, tokens = _split_tokens(behaviors["impressions"])
    parts = pc.extract_regex(tokens, r"^(?P<news>.*)-(?P<label>[^-]*)$")
    has_label = parts.is_valid()
    news = pc.if_else(has_label, parts.field("news"), tokens)
    label = np.asarray(parts.field("label").to_numpy(zero_copy_only=False), dtype=object)
    has_label_np = np.asarray(has_label, dtype=bool)
    clicked = has_label_np & (label == "1")
    valid = ~has_label_np | clicked | (label == "0")
    valid &= np.asarray(pc.greater(pc.utf8_length(news), 0), dtype=bool)
    if not valid.all():
        bad = int(np.flatnonzero(~valid)[0])
        raise DataFormatError(
            str(path), int(behaviors["_line"].iloc[rows[bad]]), "impressions",
            f"candidate {tokens[bad].as_py()!r} is not 'newsid-label' with label 0 or 1",
        )
    labels = np.where(has_label_np, clicked, -1).astype(np.int8)
    return rows, news, labels


def _history_events(behaviors: pd.DataFrame) -> pd.DataFrame:
    """The click history of each user once, timed just before their first impression."""
    rows, tokens = _split_tokens(behaviors["history"])
    n_hist = np.bincount(rows, minlength=len(behaviors))
    longest = (
        pd.DataFrame({"user_id": behaviors["user_id"], "n": n_hist})
        .sort_values("n", ascending=False, kind="stable")
        .drop_duplicates("user_id")
        .index.to_numpy()
    )
    chosen = np.zeros(len(behaviors), dtype=bool)
    chosen[longest] = True
    mask = chosen[rows]
    rows = rows[mask]
    # Tokens come row by row, so a token's position is its offset from the
    # first token of its row.
    position = np.arange(len(rows)) - np.searchsorted(rows, rows, side="left")
    first_seen = behaviors.groupby("user_id", sort=False)["timestamp"].transform("min")
    timestamp = first_seen.to_numpy(dtype=np.float64)[rows] - (n_hist[rows] - position)
    return _event_frame(
        behaviors["user_id"].take(rows),
        pd.Series(tokens.filter(mask), dtype="str"),
        "click",
        timestamp,
    )


def _read_news(path: Path) -> pd.DataFrame:
    raw = _read_delimited(path, _NEWS_FIELDS, sep="\t", data=_utf8(path.read_bytes()))
    raw["news_id"] = raw["news_id"].str.strip()
    _require_values(raw, "news_id", path)
    entities: dict[str, list[Any]] = {}
    for field in ("title_entities", "abstract_entities"):
        parsed: list[Any] = []
        for line, text in zip(raw["_line"], raw[field], strict=True):
            try:
                parsed.append(json.loads(text) if text.strip() else [])
            except json.JSONDecodeError as exc:
                raise DataFormatError(str(path), int(line), field,
                                      f"not valid JSON: {exc.msg}") from None
        entities[field] = parsed
    title = raw["title"].str.strip()
    abstract = raw["abstract"].str.strip()
    categories = [
        tuple(c for c in pair if c)
        for pair in zip(raw["category"].str.strip(), raw["subcategory"].str.strip(), strict=True)
    ]
    attributes = [
        {"url": url, "title_entities": te, "abstract_entities": ae}
        for url, te, ae in zip(raw["url"], entities["title_entities"],
                               entities["abstract_entities"], strict=True)
    ]
    text = [t + "\n" + a if a else t for t, a in zip(title, abstract, strict=True)]
    return _item_frame(raw["news_id"], title, text, categories, attributes,
                       np.full(len(raw), np.nan))


# --------------------------------------------------------------------------- Amazon


def load_amazon_reviews(path: PathLike, *, verbose: bool = True) -> Dataset:
    """Load Amazon review JSON lines (2014 / 2018 dumps) as ``comment`` events.

    ``user_id`` = ``reviewerID``, ``item_id`` = ``asin``, ``value`` = ``overall``
    (1-5), ``timestamp`` = ``unixReviewTime``, ``text`` = ``summary`` + newline +
    ``reviewText`` (whichever exists).

    Duplicates: the 2018 dump repeats a review once per product variant. Rows
    that are identical as events (same user, item, time, rating and text) are
    removed by cleaning and counted as ``duplicate``. Rows that repeat a
    (user, item) pair with a different time, rating or text are kept: they are
    separate comments, and a model that wants one interaction per pair
    collapses them itself (as :class:`~pulserec.events.interactions.Interactions`
    does).

    Parameters
    ----------
    path : path-like
        A ``.json`` / ``.json.gz`` file, or a folder holding exactly one
        (``meta_*`` files are ignored).
    verbose : bool
        Print the cleaning report.

    Returns
    -------
    Dataset
        Items are one per ``asin`` with ``title`` = the asin: reviews carry no
        item metadata.
    """
    file = _find_json(Path(path))
    records = _read_jsonl(file)
    frame = pd.DataFrame.from_records(
        records, columns=["reviewerID", "asin", "overall", "unixReviewTime", "summary",
                          "reviewText"]
    )
    text = _join_optional(frame["summary"], frame["reviewText"])
    events = _event_frame(frame["reviewerID"], frame["asin"], "comment", frame["unixReviewTime"],
                          value=frame["overall"], text=text)
    return _finish(_stem(file), events, None, value_range=(1.0, 5.0), verbose=verbose)


def _find_json(path: Path) -> Path:
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(errno.ENOENT, "expected an Amazon reviews .json or .json.gz file "
                                "or a folder holding one", str(path))
    found = sorted(
        p for p in path.iterdir()
        if p.is_file() and p.name.endswith((".json", ".json.gz", ".jsonl", ".jsonl.gz"))
        and not p.name.startswith("meta_")
    )
    if not found:
        raise FileNotFoundError(errno.ENOENT, "no reviews .json / .json.gz file in folder",
                                str(path))
    if len(found) > 1:
        raise ValueError(f"{path}: several review files {[p.name for p in found]}; pass one")
    return found[0]


# --------------------------------------------------------------------------- generic tables


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
        data = _maybe_gunzip(file)
        table = _read_delimited(file, None, sep="," if fmt == "csv" else "\t", header=True,
                                quoted=True, data=data, multiline=True)
    elif fmt == "jsonl":
        table = pd.DataFrame.from_records(_read_jsonl(file))
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
    return _finish(_stem(file), raw, None, value_range=value_range, verbose=verbose)


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


# --------------------------------------------------------------------------- dispatch

def load_dataset(name: str, path: PathLike | None = None, **kwargs: Any) -> Dataset:
    """Load a dataset by name.

    Parameters
    ----------
    name : str
        ``ml-100k``, ``ml-1m`` / ``ml-10m`` (the ``.dat`` format),
        ``ml-latest-small`` / ``ml-latest``, ``mind``, ``amazon-reviews``, or a
        generic table ``csv`` / ``tsv`` / ``jsonl`` / ``parquet``.
    path : path-like, optional
        Where the files are. MovieLens names download when it is ``None``;
        the others need it.
    **kwargs
        Passed to the loader (``verbose``; for tables ``columns``,
        ``value_range``, ``default_type``).

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones), or a missing
        ``path`` where nothing can be downloaded.
    """
    key = name.lower()
    if key in MOVIELENS_NAMES:
        folder = download_movielens(key) if path is None else path
        if key == "ml-100k":
            return load_movielens_100k(folder, **kwargs)
        if key in ("ml-1m", "ml-10m"):
            return load_movielens_dat(folder, **kwargs)
        return load_movielens_latest(folder, **kwargs)
    loaders: dict[str, Callable[..., Dataset]] = {
        "mind": load_mind,
        "amazon-reviews": load_amazon_reviews,
    }
    if key in loaders or key in ("csv", "tsv", "jsonl", "parquet"):
        if path is None:
            raise ValueError(f"dataset {name!r} cannot be downloaded; pass the path of its files")
        if key in loaders:
            return loaders[key](path, **kwargs)
        return load_table(path, fmt=key, **kwargs)
    valid = [*MOVIELENS_NAMES, "mind", "amazon-reviews", "csv", "tsv", "jsonl", "parquet"]
    raise ValueError(f"unknown dataset {name!r}; expected one of {valid}")


def download_movielens(name: str, cache_dir: PathLike | None = None) -> Path:
    """Download and extract a MovieLens archive from files.grouplens.org, once.

    Parameters
    ----------
    name : str
        One of :data:`MOVIELENS_NAMES`.
    cache_dir : path-like, optional
        Defaults to ``~/.cache/pulserec``.

    Returns
    -------
    Path
        The extracted dataset folder (e.g. ``~/.cache/pulserec/ml-1m/ml-1m``).
    """
    if name not in MOVIELENS_NAMES:
        raise ValueError(f"unknown MovieLens archive {name!r}; expected one of "
                         f"{list(MOVIELENS_NAMES)}")
    cache = Path(cache_dir) if cache_dir is not None else Path.home() / ".cache" / "pulserec"
    target = cache / name
    if not target.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        url = MOVIELENS_URL.format(name=name)
        logger.info("downloading %s", url)
        # Extract into a scratch folder and rename it into place, so an
        # interrupted download never leaves a half-filled cache entry behind.
        with tempfile.TemporaryDirectory(dir=cache) as scratch:
            archive = Path(scratch) / f"{name}.zip"
            with urllib.request.urlopen(url, timeout=60) as response, archive.open("wb") as out:
                shutil.copyfileobj(response, out)
            extracted = Path(scratch) / name
            with zipfile.ZipFile(archive) as zf:
                root = extracted.resolve()
                for member in zf.namelist():
                    if not (root / member).resolve().is_relative_to(root):
                        raise ValueError(f"{url}: archive member {member!r} escapes the folder")
                zf.extractall(extracted)
            extracted.rename(target)
    folders = [p for p in target.iterdir() if p.is_dir()]
    return folders[0] if len(folders) == 1 else target


# --------------------------------------------------------------------------- helpers


def _folder(path: PathLike | None, download: str | None) -> Path:
    """The dataset folder: ``path`` itself, its parent when it is a file, or a download."""
    if path is None:
        if download is None:
            raise ValueError("this dataset cannot be downloaded; pass the path of its files")
        return download_movielens(download)
    folder = Path(path)
    if folder.is_file():
        return folder.parent
    if not folder.is_dir():
        raise FileNotFoundError(errno.ENOENT, "dataset folder not found", str(folder))
    return folder


def _require(folder: Path, name: str, what: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, f"missing {what} file {name!r}", str(path))
    return path


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".parquet", ".pq"):
        name = name.removesuffix(suffix)
    return name


def _utf8(data: bytes) -> bytes:
    """UTF-8 bytes: as they are when valid, else read as latin-1 (old MovieLens files)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1").encode("utf-8")
    return data


def _dat(data: bytes) -> bytes:
    # pyarrow splits on one byte; the unit separator never occurs in MovieLens text.
    return data.replace(b"::", b"\x1f")


def _maybe_gunzip(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise DataFormatError(str(path), None, None, f"not a valid gzip file: {exc}") from None
    return data


def _read_delimited(
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
    count records rather than physical lines.
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


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Objects of a JSON-lines file (``.gz`` undone); blank lines skipped."""
    lines = _maybe_gunzip(path).splitlines()
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


def _require_values(frame: pd.DataFrame, column: str, path: Path) -> None:
    """A blank id in a catalogue file is a broken line, not a droppable event."""
    blank = (frame[column].str.strip() == "").to_numpy()
    if blank.any():
        row = int(np.flatnonzero(blank)[0])
        raise DataFormatError(str(path), int(frame["_line"].iloc[row]), column, "empty id")


def _event_frame(
    user_id: Any,
    item_id: Any,
    type_: Any,
    timestamp: Any,
    *,
    value: Any = None,
    text: Any = None,
    event_id: Any = None,
) -> pd.DataFrame:
    """A raw event frame with :data:`EVENT_COLUMNS`; scalars are broadcast."""
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


def _item_frame(
    item_id: Any,
    title: Any,
    text: Any,
    categories: Sequence[tuple[str, ...]],
    attributes: Sequence[dict[str, Any]],
    created_at: Any,
) -> pd.DataFrame:
    """An item frame with :data:`ITEM_COLUMNS`, first row kept per item id."""
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


def _items_of(events: pd.DataFrame) -> pd.DataFrame:
    """Bare items (title = id) for every item id in the events, in first-seen order."""
    ids = events["item_id"].dropna().unique()
    n = len(ids)
    return _item_frame(ids, ids, [""] * n, [()] * n, [{} for _ in range(n)], np.full(n, np.nan))


def _join_text(
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


def _join_optional(first: pd.Series, second: pd.Series) -> pd.Series:
    """``first + "\\n" + second``, or whichever is present, or None."""
    a = first.astype("str").fillna("").str.strip()
    b = second.astype("str").fillna("").str.strip()
    joined = (a + "\n" + b).where((a != "") & (b != ""), a + b)
    return joined.astype(object).where(joined != "", None)


def _finish(
    name: str,
    raw: pd.DataFrame,
    items: pd.DataFrame | None,
    *,
    value_range: tuple[float, float] | None,
    verbose: bool,
) -> Dataset:
    events, report = clean(raw, name, value_range=value_range)
    if items is None:
        items = _items_of(events)
    _report(report, verbose)
    return Dataset(name=name, events=events, items=items, report=report)


def _report(report: CleaningReport, verbose: bool) -> None:
    logger.debug("%s", report)
    if verbose:
        from rich.console import Console

        Console(stderr=True, highlight=False).print(str(report), markup=False, soft_wrap=True)
