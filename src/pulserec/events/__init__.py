"""Event and item tables: schemas, loaders and cleaning."""

from pulserec.events.base import (
    EVENT_COLUMNS,
    ITEM_COLUMNS,
    CleaningReport,
    DataFormatError,
    Dataset,
)
from pulserec.events.cleaning import DROP_REASONS, clean
from pulserec.events.datasets import (
    DATASETS,
    MOVIELENS_NAMES,
    DatasetSpec,
    Impression,
    download_movielens,
    load_amazon_reviews,
    load_dataset,
    load_douban,
    load_globo,
    load_mind,
    load_mind_impressions,
    load_movielens,
    load_movielens_100k,
    load_movielens_dat,
    load_movielens_latest,
)
from pulserec.events.interactions import Interactions
from pulserec.events.tables import load_table

__all__ = [
    "DATASETS",
    "DROP_REASONS",
    "EVENT_COLUMNS",
    "ITEM_COLUMNS",
    "MOVIELENS_NAMES",
    "CleaningReport",
    "DataFormatError",
    "Dataset",
    "DatasetSpec",
    "Impression",
    "Interactions",
    "clean",
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
    "load_table",
]
