"""MovieLens: the 100K, the ``.dat`` (1M, 10M) and the "latest" (CSV) formats.

A loader given no ``path`` downloads the public archive from
files.grouplens.org into ``~/.cache/pulserec`` once (:func:`download_movielens`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pulserec.events.base import DataFormatError, Dataset
from pulserec.events.files import (
    PathLike,
    dataset_folder,
    fetch_zip,
    read_delimited,
    require,
    require_values,
    utf8,
)
from pulserec.events.frames import event_frame, finish, item_frame, join_text

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


def load_movielens(name: str, path: PathLike | None = None, *, verbose: bool = True) -> Dataset:
    """Load a MovieLens archive by name, in the format that archive comes in.

    Parameters
    ----------
    name : str
        One of :data:`MOVIELENS_NAMES`: ``ml-100k`` (:func:`load_movielens_100k`),
        ``ml-1m`` / ``ml-10m`` (:func:`load_movielens_dat`), ``ml-latest-small`` /
        ``ml-latest`` (:func:`load_movielens_latest`).
    path : path-like, optional
        The extracted folder. ``None`` downloads archive ``name``.
    verbose : bool
        Print the cleaning report.
    """
    if name not in MOVIELENS_NAMES:
        raise ValueError(f"unknown MovieLens archive {name!r}; expected one of "
                         f"{list(MOVIELENS_NAMES)}")
    folder = download_movielens(name) if path is None else path
    if name == "ml-100k":
        return load_movielens_100k(folder, verbose=verbose)
    if name in ("ml-1m", "ml-10m"):
        return load_movielens_dat(folder, verbose=verbose)
    return load_movielens_latest(folder, verbose=verbose)


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
    ratings_file = require(folder, "u.data", "MovieLens 100K ratings")
    items_file = require(folder, "u.item", "MovieLens 100K movies")
    ratings = read_delimited(ratings_file, ("user_id", "item_id", "rating", "timestamp"), sep="\t")
    events = event_frame(ratings["user_id"], ratings["item_id"], "rate", ratings["timestamp"],
                          value=ratings["rating"])

    genres = _read_genre_names(folder / "u.genre")
    names = ("item_id", "title", "release_date", "video_release_date", "imdb_url", *genres)
    raw = read_delimited(items_file, names, sep="|", data=utf8(items_file.read_bytes()))
    require_values(raw, "item_id", items_file)
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
    items = item_frame(
        raw["item_id"],
        title,
        join_text(title, categories),
        categories,
        [{"release_date": d, "imdb_url": u} for d, u in zip(raw["release_date"], raw["imdb_url"],
                                                             strict=True)],
        (release - pd.Timestamp(0)).dt.total_seconds(),
    )
    return finish("ml-100k", events, items, value_range=(1.0, 5.0), verbose=verbose)


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
    ratings_file = require(folder, "ratings.dat", "MovieLens ratings")
    movies_file = require(folder, "movies.dat", "MovieLens movies")
    ratings = read_delimited(
        ratings_file,
        ("user_id", "item_id", "rating", "timestamp"),
        sep="\x1f",
        data=_dat(ratings_file.read_bytes()),
    )
    events = event_frame(ratings["user_id"], ratings["item_id"], "rate", ratings["timestamp"],
                          value=ratings["rating"])
    movies = read_delimited(movies_file, ("item_id", "title", "genres"), sep="\x1f",
                             data=_dat(utf8(movies_file.read_bytes())))
    tags = None
    tags_file = folder / "tags.dat"
    if tags_file.is_file():
        tags = read_delimited(tags_file, ("user_id", "item_id", "tag", "timestamp"), sep="\x1f",
                               data=_dat(utf8(tags_file.read_bytes())))
    items = _movies_items(movies, movies_file, tags)
    return finish(folder.name, events, items, value_range=(0.5, 5.0), verbose=verbose)


def load_movielens_latest(path: PathLike | None = None, *, verbose: bool = True) -> Dataset:
    """Load MovieLens "latest" (``ratings.csv``, ``movies.csv``, ``tags.csv``).

    Tags are aggregated per movie: the distinct tags (case-insensitively, first
    spelling kept, in file order) go into ``attributes["tags"]`` and into the
    item text after the title and genres. ``tags.csv`` is optional. Genre
    ``(no genres listed)`` gives no category. ``created_at`` is 1 January of the year in
    the title (:func:`title_years`).

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
    ratings_file = require(folder, "ratings.csv", "MovieLens ratings")
    movies_file = require(folder, "movies.csv", "MovieLens movies")
    ratings = read_delimited(ratings_file, ("userId", "movieId", "rating", "timestamp"),
                              sep=",", header=True, quoted=True)
    events = event_frame(ratings["userId"], ratings["movieId"], "rate", ratings["timestamp"],
                          value=ratings["rating"])
    movies = read_delimited(movies_file, ("movieId", "title", "genres"), sep=",", header=True,
                             quoted=True, data=utf8(movies_file.read_bytes()))
    movies = movies.rename(columns={"movieId": "item_id"})
    tags = None
    tags_file = folder / "tags.csv"
    if tags_file.is_file():
        tags = read_delimited(tags_file, ("userId", "movieId", "tag", "timestamp"), sep=",",
                               header=True, quoted=True, data=utf8(tags_file.read_bytes()))
        tags = tags.rename(columns={"movieId": "item_id"})
    items = _movies_items(movies, movies_file, tags)
    return finish(folder.name, events, items, value_range=(0.5, 5.0), verbose=verbose)


def _movies_items(movies: pd.DataFrame, path: Path, tags: pd.DataFrame | None) -> pd.DataFrame:
    """Items of a ``movies`` table (``item_id``, ``title``, ``genres``) plus its tags."""
    require_values(movies, "item_id", path)
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
    return item_frame(
        item_id,
        title,
        join_text(title, categories, extra),
        categories,
        [{"tags": t} for t in tag_lists],
        title_years(title),
    )


def title_years(titles: pd.Series) -> np.ndarray:
    """1 January of the year a MovieLens title ends with (``Toy Story (1995)``, or the
    first year of a range, ``(2005-2007)``), in seconds since the epoch: the release time
    these files give; NaN for a title without one.

    Examples
    --------
    >>> titles = ["Heat (1995)", "Fargo (1996) ", "Babylon 5", "X (2005–2007)"]
    >>> years = title_years(pd.Series(titles))
    >>> [pd.Timestamp(s, unit="s").isoformat() if s == s else None for s in years]
    ['1995-01-01T00:00:00', '1996-01-01T00:00:00', None, '2005-01-01T00:00:00']
    """
    year = titles.str.extract(r"\((\d{4})(?:[-–]\d{0,4})?\)\s*$", expand=False)
    stamps = pd.to_datetime(year, format="%Y", errors="coerce", utc=True)
    seconds: np.ndarray = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
    return seconds


def _read_genre_names(path: Path) -> tuple[str, ...]:
    """Genre names from ``u.genre`` (``name|id``), ordered by id; the standard list if absent."""
    if not path.is_file():
        return ML_100K_GENRES
    raw = read_delimited(path, ("name", "id"), sep="|", data=utf8(path.read_bytes()))
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


def _dat(data: bytes) -> bytes:
    # pyarrow splits on one byte; the unit separator never occurs in MovieLens text.
    return data.replace(b"::", b"\x1f")


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
        fetch_zip(MOVIELENS_URL.format(name=name), target)
    folders = [p for p in target.iterdir() if p.is_dir()]
    return folders[0] if len(folders) == 1 else target


def _folder(path: PathLike | None, name: str) -> Path:
    """The dataset folder: ``path`` (or the folder of the file it names), else a download."""
    return download_movielens(name) if path is None else dataset_folder(path)
