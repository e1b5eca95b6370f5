"""ContentModel: known answers on a checkerboard with hand-built item embeddings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from pulserec.catalog.idmap import IdMap
from pulserec.events.interactions import Interactions
from pulserec.models.base import Recommender
from pulserec.models.content import ContentModel, item_texts_for, recency_weights
from pulserec.text import HashingEncoder

ITEMS = ["a0", "a1", "a2", "a3", "b0", "b1", "b2", "b3"]
# Group A points along axis 0, group B along axis 1; the third axis tells items apart.
VECTORS = np.array(
    [[1.0, 0.0, 0.1 * i] for i in range(4)] + [[0.0, 1.0, 0.1 * i] for i in range(4)]
)


def checkerboard() -> Interactions:
    """Users u0, u1 engaged with a0, a1; users v0, v1 with b0, b1; a2, a3, b2, b3 are cold."""
    rows = [("u0", "a0"), ("u0", "a1"), ("u1", "a1"), ("u1", "a0"),
            ("v0", "b0"), ("v0", "b1"), ("v1", "b1"), ("v1", "b0")]
    events = pd.DataFrame(rows, columns=["user_id", "item_id"])
    events["timestamp"] = np.arange(len(rows), dtype=np.float64)
    return Interactions.from_events(events, items=IdMap(ITEMS))


def fitted(**params: Any) -> ContentModel:
    return ContentModel(**params).set_item_vectors(VECTORS).fit(checkerboard())


def test_each_group_gets_its_own_cold_items() -> None:
    model = fitted()
    top, scores = model.recommend([0, 1, 2, 3], k=2)
    names = [{ITEMS[i] for i in row} for row in top]
    assert names == [{"a2", "a3"}, {"a2", "a3"}, {"b2", "b3"}, {"b2", "b3"}]
    assert (scores > 0.9).all()


def test_scores_are_cosines_of_the_profile() -> None:
    model = fitted(half_life=None)
    scores = model.score([0])[0]
    profile = VECTORS[0] / np.linalg.norm(VECTORS[0]) + VECTORS[1] / np.linalg.norm(VECTORS[1])
    unit = VECTORS / np.linalg.norm(VECTORS, axis=1, keepdims=True)
    expected = unit @ (profile / np.linalg.norm(profile))
    np.testing.assert_allclose(scores, expected, rtol=1e-5)


def test_recent_items_weigh_more() -> None:
    events = pd.DataFrame({"user_id": ["u", "u"], "item_id": ["a0", "b0"],
                           "timestamp": [1.0, 2.0]})
    train = Interactions.from_events(events, items=IdMap(ITEMS))
    recent = ContentModel(half_life=1.0).set_item_vectors(VECTORS).fit(train).score([0])[0]
    flat = ContentModel(half_life=None).set_item_vectors(VECTORS).fit(train).score([0])[0]
    a1, b1 = ITEMS.index("a1"), ITEMS.index("b1")
    assert recent[b1] > recent[a1]  # b0 came last
    assert flat[b1] == pytest.approx(flat[a1], abs=1e-6)


def test_recency_weights_known_answer() -> None:
    # User 0: items 2, 0, 2 in time order; user 1: item 1.
    weights = recency_weights(np.array([0, 1, 0, 0]), np.array([2, 1, 0, 2]), (2, 3), 1.0)
    np.testing.assert_allclose(weights.toarray(), [[0.5, 0.0, 1.0 + 0.25], [0.0, 1.0, 0.0]])
    flat = recency_weights(np.array([0, 0]), np.array([1, 1]), (1, 2), None)
    np.testing.assert_allclose(flat.toarray(), [[0.0, 2.0]])
    with pytest.raises(ValueError, match="half_life"):
        recency_weights(np.array([0]), np.array([0]), (1, 1), 0.0)


def test_fold_in_uses_row_values_and_subtracts_negatives() -> None:
    model = fitted()
    history = sp.csr_matrix(np.array([[1.0, 0, 0, 0, -1.0, 0, 0, 0]]))
    scores = model.score([-1], user_items=history)[0]
    assert (scores[:4] > 0).all() and (scores[4:] < 0).all()
    ignore_negatives = fitted(negative_weight=0.0).score([-1], user_items=history)[0]
    np.testing.assert_allclose(ignore_negatives[4:], 0.0, atol=1e-6)


def test_unknown_user_and_empty_profile_fall_back_to_popularity() -> None:
    model = fitted()
    np.testing.assert_array_equal(model.score([99])[0], model.item_popularity_)
    vectors = VECTORS.copy()
    vectors[[0, 1]] = 0.0  # a0 and a1 have no text
    blind = ContentModel().set_item_vectors(vectors).fit(checkerboard())
    np.testing.assert_array_equal(blind.score([0])[0], blind.item_popularity_)


def test_save_load_round_trip_needs_no_encoder(tmp_path: Path) -> None:
    model = fitted(half_life=5.0)
    loaded = Recommender.load(model.save(tmp_path / "content"))
    assert isinstance(loaded, ContentModel)
    assert loaded.get_params() == {"encoder": "use-m3", "half_life": 5.0, "negative_weight": 1.0}
    np.testing.assert_allclose(loaded.score([0, 1, 2, 3]), model.score([0, 1, 2, 3]), rtol=1e-6)
    np.testing.assert_array_equal(loaded.item_vectors_, model.item_vectors_)


def test_missing_or_misaligned_vectors_fail_loudly() -> None:
    with pytest.raises(RuntimeError, match="set_item_vectors"):
        ContentModel().fit(checkerboard())
    with pytest.raises(ValueError, match="align"):
        ContentModel().set_item_vectors(VECTORS[:5]).fit(checkerboard())
    with pytest.raises(ValueError, match="NaN"):
        ContentModel().set_item_vectors(np.full((2, 2), np.nan))


def test_set_item_texts_embeds_with_the_named_encoder() -> None:
    texts = ["red running shoes", "blue running shoes", "green tea leaves", "black tea leaves"]
    events = pd.DataFrame({"user_id": ["u"], "item_id": ["0"], "timestamp": [1.0]})
    train = Interactions.from_events(events, items=IdMap(["0", "1", "2", "3"]))
    model = ContentModel(encoder="hashing").set_item_texts(texts).fit(train)
    top, _ = model.recommend([0], k=1)
    assert top.tolist() == [[1]]
    with pytest.raises(ValueError, match="configured for"):
        ContentModel().set_item_texts(texts, encoder=HashingEncoder())


def test_item_texts_for_aligns_and_falls_back_to_title() -> None:
    frame = pd.DataFrame({"item_id": ["x", "y", "z"], "title": ["X", "Y", None],
                          "text": ["x text", "", None]})
    assert item_texts_for(frame, ["z", "y", "x", "missing"]) == ["", "Y", "x text", ""]
    assert item_texts_for(None, ["a"]) == [""]
