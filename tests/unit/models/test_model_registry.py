"""The registry of model names."""

from __future__ import annotations

import pytest

from pulserec.models import (
    ALS,
    BPR,
    EASE,
    MODELS,
    ContentModel,
    CoVisitation,
    Hybrid,
    ItemKNN,
    Popularity,
    SequentialTransformer,
    make_model,
)


def test_names_map_to_classes() -> None:
    assert MODELS == {
        "pop": Popularity,
        "itemknn": ItemKNN,
        "ease": EASE,
        "als": ALS,
        "bpr": BPR,
        "covisit": CoVisitation,
        "content": ContentModel,
        "sequential": SequentialTransformer,
        "hybrid": Hybrid,
    }
    assert all(cls.name == name for name, cls in MODELS.items())


def test_make_model_sets_params_and_keeps_defaults() -> None:
    model = make_model("itemknn", shrink=10.0)
    assert isinstance(model, ItemKNN)
    assert model.get_params() == {"k_neighbors": ItemKNN().k_neighbors, "shrink": 10.0}


def test_unknown_name_lists_valid_ones() -> None:
    expected = "unknown model 'knn'; valid names: als, bpr, content, covisit, ease, hybrid"
    with pytest.raises(ValueError, match=expected):
        make_model("knn")


def test_unknown_hyperparameter_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown hyperparameter 'lambda'"):
        make_model("ease", **{"lambda": 3.0})
