"""Public datasets, one family per module, and :func:`load_dataset` that picks one by name."""

from __future__ import annotations

from typing import Any

from pulserec.events.base import Dataset
from pulserec.events.datasets.amazon import load_amazon_reviews
from pulserec.events.datasets.mind import Impression, load_mind, load_mind_impressions
from pulserec.events.datasets.movielens import (
    MOVIELENS_NAMES,
    download_movielens,
    load_movielens_100k,
    load_movielens_dat,
    load_movielens_latest,
)
from pulserec.events.files import PathLike
from pulserec.events.tables import TABLE_FORMATS, load_table


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
    loaders = {"mind": load_mind, "amazon-reviews": load_amazon_reviews}
    if key in loaders or key in TABLE_FORMATS:
        if path is None:
            raise ValueError(f"dataset {name!r} cannot be downloaded; pass the path of its files")
        if key in loaders:
            return loaders[key](path, **kwargs)
        return load_table(path, fmt=key, **kwargs)
    valid = [*MOVIELENS_NAMES, "mind", "amazon-reviews", *TABLE_FORMATS]
    raise ValueError(f"unknown dataset {name!r}; expected one of {valid}")


__all__ = [
    "MOVIELENS_NAMES",
    "Impression",
    "download_movielens",
    "load_amazon_reviews",
    "load_dataset",
    "load_mind",
    "load_mind_impressions",
    "load_movielens_100k",
    "load_movielens_dat",
    "load_movielens_latest",
]
