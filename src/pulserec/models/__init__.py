"""Recommendation models and the registry that names them.

Examples
--------
>>> make_model("ease", l2=500.0)
EASE(l2=500.0)
>>> sorted(MODELS)
['als', 'bpr', 'content', 'covisit', 'ease', 'hybrid', 'itemknn', 'pop', 'sequential']
"""

from __future__ import annotations

from typing import Any

from pulserec.models.base import ArtifactError, Recommender, top_k
from pulserec.models.content import ContentModel
from pulserec.models.covisit import CoVisitation
from pulserec.models.ease import EASE
from pulserec.models.factor import ALS, BPR
from pulserec.models.hybrid import Hybrid
from pulserec.models.itemknn import ItemKNN
from pulserec.models.popularity import Popularity
from pulserec.models.sequential import SequentialTransformer

MODELS: dict[str, type[Recommender]] = {
    cls.name: cls
    for cls in (
        Popularity,
        ItemKNN,
        EASE,
        ALS,
        BPR,
        CoVisitation,
        ContentModel,
        SequentialTransformer,
        Hybrid,
    )
}
"""Every model by its registry name; the contract suite runs over all of them."""


def make_model(name: str, **params: Any) -> Recommender:
    """A new, unfitted model by registry name, with the given hyperparameters.

    Raises
    ------
    ValueError
        When ``name`` is not registered (the message lists the valid names) or a
        hyperparameter is not one the model takes.
    """
    cls = MODELS.get(name)
    if cls is None:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(sorted(MODELS))}")
    return cls().set_params(**params)


__all__ = [
    "ALS",
    "BPR",
    "EASE",
    "MODELS",
    "ArtifactError",
    "CoVisitation",
    "ContentModel",
    "Hybrid",
    "ItemKNN",
    "Popularity",
    "Recommender",
    "SequentialTransformer",
    "make_model",
    "top_k",
]
