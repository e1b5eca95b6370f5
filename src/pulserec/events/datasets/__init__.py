"""Public datasets, one family per module, and the registry that names them.

:data:`DATASETS` is the one list of dataset names: :func:`load_dataset` and the
command line's ``--dataset`` both read it.

Examples
--------
>>> list(DATASETS)[:3]
['ml-100k', 'ml-1m', 'ml-10m']
>>> DATASETS["mind"].downloadable
False
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from pulserec.events.base import Dataset
from pulserec.events.datasets.amazon import load_amazon_reviews
from pulserec.events.datasets.douban import load_douban
from pulserec.events.datasets.globo import load_globo
from pulserec.events.datasets.mind import (
    XMIND_ZH_FOLDER,
    Impression,
    load_mind,
    load_mind_impressions,
)
from pulserec.events.datasets.movielens import (
    MOVIELENS_NAMES,
    download_movielens,
    load_movielens,
    load_movielens_100k,
    load_movielens_dat,
    load_movielens_latest,
)
from pulserec.events.files import PathLike
from pulserec.events.tables import TABLE_FORMATS, load_table


@dataclass(frozen=True)
class DatasetSpec:
    """How to load one named dataset.

    Attributes
    ----------
    load : callable
        ``load(path, **kwargs) -> Dataset``.
    description : str
        One line: what the files are and what the events and items hold.
    downloadable : bool
        Whether ``load`` accepts ``path=None`` (it then downloads the data).
    """

    load: Callable[..., Dataset]
    description: str
    downloadable: bool = False


DATASETS: dict[str, DatasetSpec] = {
    "ml-100k": DatasetSpec(
        partial(load_movielens, "ml-100k"),
        "MovieLens 100K (u.data, u.item): 1-5 star ratings; titles and genres",
        downloadable=True,
    ),
    "ml-1m": DatasetSpec(
        partial(load_movielens, "ml-1m"),
        "MovieLens 1M (ratings.dat, movies.dat): 1-5 star ratings; titles and genres",
        downloadable=True,
    ),
    "ml-10m": DatasetSpec(
        partial(load_movielens, "ml-10m"),
        "MovieLens 10M (.dat files): 0.5-5 star ratings; titles, genres and tags",
        downloadable=True,
    ),
    "ml-latest-small": DatasetSpec(
        partial(load_movielens, "ml-latest-small"),
        "MovieLens latest-small (CSV): 0.5-5 star ratings; titles, genres and tags",
        downloadable=True,
    ),
    "ml-latest": DatasetSpec(
        partial(load_movielens, "ml-latest"),
        "MovieLens latest, full (CSV): as ml-latest-small, larger",
        downloadable=True,
    ),
    "mind": DatasetSpec(
        load_mind,
        "MIND news (behaviors.tsv, news.tsv): clicks and impressions; English news text",
    ),
    "mind-zh": DatasetSpec(
        partial(load_mind, zh_news=True),
        f"as mind, plus Chinese text from {XMIND_ZH_FOLDER}/news.tsv beside the MIND folder "
        "for news without English text",
    ),
    "amazon-reviews": DatasetSpec(
        load_amazon_reviews,
        "Amazon reviews (JSON lines, .gz): comments with 1-5 stars and text; bare items",
    ),
    "douban": DatasetSpec(
        load_douban,
        "Douban movie reviews (reviews.json, movies.json): Chinese comments and 1-5 stars; "
        "movie names, genres and people",
    ),
    "globo": DatasetSpec(
        load_globo,
        "Globo.com news clicks (clicks_hour_*.csv): clicks, session in event_id, late "
        "stragglers dropped; article ids only, no text",
    ),
    **{
        fmt: DatasetSpec(
            partial(load_table, fmt=fmt),
            f"any {label} event table; columns mapped by name with columns={{...}}",
        )
        for fmt, label in zip(TABLE_FORMATS, ("CSV", "TSV", "JSON-lines", "Parquet"), strict=True)
    },
}
"""Every dataset by its name, in the order help texts list them."""


def load_dataset(name: str, path: PathLike | None = None, **kwargs: Any) -> Dataset:
    """Load a dataset by its name in :data:`DATASETS` (case-insensitive).

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`, e.g. ``ml-100k``, ``mind`` or ``csv``.
    path : path-like, optional
        Where the files are. Downloadable datasets (MovieLens) download when it
        is ``None``; the others need it.
    **kwargs
        Passed to the loader (``verbose``; for tables ``columns``,
        ``value_range``, ``default_type``).

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones), or a missing
        ``path`` where nothing can be downloaded.
    """
    spec = DATASETS.get(name.lower())
    if spec is None:
        raise ValueError(f"unknown dataset {name!r}; expected one of {list(DATASETS)}")
    if path is None and not spec.downloadable:
        raise ValueError(f"dataset {name!r} cannot be downloaded; pass the path of its files")
    return spec.load(path, **kwargs)


__all__ = [
    "DATASETS",
    "MOVIELENS_NAMES",
    "DatasetSpec",
    "Impression",
    "download_movielens",
    "load_amazon_reviews",
    "load_dataset",
    "load_douban",
    "load_globo",
    "load_mind",
    "load_mind_impressions",
    "load_movielens",
    "load_movielens_100k",
    "load_movielens_dat",
    "load_movielens_latest",
]
