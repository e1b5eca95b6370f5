"""The loaders by their former home; they live in :mod:`pulserec.events.datasets` and
:mod:`pulserec.events.tables` (import them from :mod:`pulserec.events`)."""

from pulserec.events.datasets import (
    MOVIELENS_NAMES,
    Impression,
    download_movielens,
    load_amazon_reviews,
    load_dataset,
    load_mind,
    load_mind_impressions,
    load_movielens_100k,
    load_movielens_dat,
    load_movielens_latest,
)
from pulserec.events.tables import load_table

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
    "load_table",
]
