"""Douban movie reviews (the DMR dataset's ``reviews.json`` and ``movies.json``), in Chinese."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pulserec.events.base import DataFormatError, Dataset
from pulserec.events.files import PathLike, dataset_folder, require
from pulserec.events.frames import event_frame, finish, item_frame, join_text

DOUBAN_UTC_OFFSET = "+08:00"
"""Douban shows China Standard Time (UTC+8, no daylight saving); its dates carry no zone."""

N_ACTORS_IN_TEXT = 5
"""How many of a movie's actors, in billing order, its text names (all are in attributes)."""

_PEOPLE = ("directors", "writers", "actors")
_RELEASE = re.compile(r"(\d{4})-(\d{2})(?:-(\d{2}))?")


def load_douban(path: PathLike, *, verbose: bool = True) -> Dataset:
    """Load the Douban Movie Review dataset (DMR) as comment and rating events.

    ``reviews.json`` maps review keys to the reviews under study ("target"
    reviews, with their spam ``label``); each also holds its author's review
    history (``user_reviews``), which includes the target review itself.

    Events, one per history entry:

    * a review with text is a ``comment`` (``text`` = the review, stripped);
      one with stars but no text is a ``rate`` event;
    * ``value`` = the stars (1-5; others are dropped as out of range),
      ``event_id`` = ``f"{user_id}:{movie_id}"`` (Douban keeps one review per
      user and movie);
    * ``timestamp``: history entries carry a date only (read as midnight); a
      target review carries the full time, which replaces the date of its
      author's history entry on the same movie. A target review absent from
      its author's history becomes an event of its own. Times are China
      Standard Time (UTC+8), the zone Douban shows.

    When several target reviews share an author, the author's history repeats;
    cleaning drops the repeats and counts them as ``duplicate``.

    Items are the movies of ``movies.json``: ``title`` = the name (Chinese,
    often followed by the original title), ``categories`` = the genres,
    ``text`` = name, ``Genres:``, ``Directors:`` and the first
    :data:`N_ACTORS_IN_TEXT` actors, ``created_at`` = the first release date,
    ``attributes`` = the people, languages, regions, release string, duration
    in minutes, Douban's average stars (float, or None) and ``lang`` ``"zh"``.
    Movies reviewed but absent from ``movies.json`` stay valid item ids.

    Parameters
    ----------
    path : path-like
        The folder holding ``reviews.json`` and ``movies.json`` (or a file in it).
    verbose : bool
        Print the cleaning report.

    Raises
    ------
    DataFormatError
        When a file is not valid JSON or a review or movie lacks a field or has
        one of the wrong type; the message names the entry and the field.
    """
    folder = dataset_folder(path)
    reviews_file = require(folder, "reviews.json", "Douban reviews")
    movies_file = require(folder, "movies.json", "Douban movies")
    events = _review_events(reviews_file, _read_object(reviews_file))
    items = _movie_items(movies_file, _read_object(movies_file))
    return finish("douban", events, items, value_range=(1.0, 5.0), verbose=verbose)


def _read_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except json.JSONDecodeError as exc:
        raise DataFormatError(str(path), exc.lineno, None,
                              f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except UnicodeDecodeError as exc:
        raise DataFormatError(str(path), None, None, f"not UTF-8: {exc}") from None
    if not isinstance(data, dict):
        raise DataFormatError(str(path), None, None,
                              f"expected one JSON object, got {type(data).__name__}")
    return data


def _field(path: Path, where: str, record: Any, name: str, kinds: tuple[type, ...]) -> Any:
    """``record[name]``, which must exist and be one of ``kinds``; ``where`` names the entry."""
    if not isinstance(record, dict):
        raise DataFormatError(str(path), None, where,
                              f"expected a JSON object, got {type(record).__name__}")
    if name not in record:
        raise DataFormatError(str(path), None, f"{where}.{name}", "missing")
    value = record[name]
    if not isinstance(value, kinds) or isinstance(value, bool):
        expected = " or ".join(k.__name__ for k in kinds)
        raise DataFormatError(str(path), None, f"{where}.{name}",
                              f"expected {expected}, got {type(value).__name__}")
    return value


def _review_events(path: Path, reviews: dict[str, Any]) -> pd.DataFrame:
    number = (int, float)
    rows: list[tuple[str, str, str, str, Any]] = []  # user, movie, text, date, stars
    full_time: dict[tuple[str, str], str] = {}  # (user, movie) of a target review -> its time
    for key, review in reviews.items():
        user = str(_field(path, key, review, "user_id", (str,))).strip()
        movie = str(_field(path, key, review, "movie_id", (str, int))).strip()
        target = (user, movie, _field(path, key, review, "text", (str,)).strip(),
                  _field(path, key, review, "date", (str,)),
                  _field(path, key, review, "stars", number))
        history = [
            (user,
             str(_field(path, where, entry, "movie_id", (str, int))).strip(),
             _field(path, where, entry, "text", (str,)).strip(),
             _field(path, where, entry, "date", (str,)),
             _field(path, where, entry, "stars", number))
            for hkey, entry in _field(path, key, review, "user_reviews", (dict,)).items()
            for where in [f"{key}.user_reviews.{hkey}"]
        ]
        full_time.setdefault((user, movie), target[3])
        if not any(h[1] == movie for h in history):
            history.append(target)
        rows.extend(history)
    columns = [list(c) for c in zip(*rows, strict=True)] if rows else [[], [], [], [], []]
    users, movies, texts, dates, stars = columns
    dates = [full_time.get((u, m), d) for u, m, d in zip(users, movies, dates, strict=True)]
    text = pd.Series(texts, dtype=object)
    has_text = (text != "").to_numpy(dtype=bool)
    return event_frame(
        pd.Series(users, dtype=object),
        pd.Series(movies, dtype=object),
        np.where(has_text, "comment", "rate"),
        _china_time(pd.Series(dates, dtype=object)),
        value=np.asarray(stars, dtype=np.float64),
        text=text.where(has_text, None),
        event_id=pd.Series([f"{u}:{m}" for u, m in zip(users, movies, strict=True)],
                           dtype=object),
    )


def _china_time(dates: pd.Series) -> np.ndarray:
    """Epoch seconds of ``YYYY-MM-DD[ HH:MM:SS]`` in China time; NaN where neither fits."""
    text = dates.astype(str).str.strip()
    full = pd.to_datetime(text, format="%Y-%m-%d %H:%M:%S", errors="coerce")
    day = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    local = full.fillna(day)
    utc = local.dt.tz_localize(DOUBAN_UTC_OFFSET).dt.tz_convert("UTC")
    return (utc - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=np.float64,
                                                                       na_value=np.nan)


def _names(value: Any) -> list[str]:
    """People as names: DMR stores ``{profile_url: name}`` (or null)."""
    if isinstance(value, dict):
        return [str(v).strip() for v in value.values() if str(v).strip()]
    return []


def _strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return []


def _number(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _release_seconds(release: str) -> float:
    """Midnight (China time) of the first ``YYYY-MM[-DD]`` in a release string, or NaN."""
    match = _RELEASE.search(release)
    if match is None:
        return float("nan")
    year, month, day = match.group(1), match.group(2), match.group(3) or "01"
    stamp = pd.Timestamp(f"{year}-{month}-{day}T00:00:00{DOUBAN_UTC_OFFSET}")
    return float((stamp - pd.Timestamp(0, tz="UTC")).total_seconds())


def _movie_items(path: Path, movies: dict[str, Any]) -> pd.DataFrame:
    ids, titles, categories, extra, attributes, created = [], [], [], [], [], []
    for movie_id, movie in movies.items():
        if not str(movie_id).strip():
            raise DataFormatError(str(path), None, "movie_id", "empty id")
        name = str(_field(path, movie_id, movie, "movie_name", (str,))).strip()
        people = {role: _names(movie.get(role)) for role in _PEOPLE}
        release = str(movie.get("release_times") or "").strip()
        lines = []
        if people["directors"]:
            lines.append("Directors: " + ", ".join(people["directors"]))
        if people["actors"]:
            lines.append("Actors: " + ", ".join(people["actors"][:N_ACTORS_IN_TEXT]))
        ids.append(str(movie_id).strip())
        titles.append(name)
        categories.append(tuple(_strings(movie.get("genres"))))
        extra.append(lines)
        attributes.append({
            **people,
            "languages": _strings(movie.get("languages")),
            "producing_regions": _strings(movie.get("producing_regions")),
            "release_times": release,
            "duration_minutes": _number(movie.get("movie_duration")),
            "average_stars": _number(movie.get("average_stars")),
            "lang": "zh",
        })
        created.append(_release_seconds(release))
    title = pd.Series(titles, dtype=object)
    return item_frame(ids, title, join_text(title, categories, extra), categories, attributes,
                      np.asarray(created, dtype=np.float64))
