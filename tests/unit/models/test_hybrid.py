from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pulserec.catalog.idmap import IdMap
from pulserec.events.interactions import Interactions
from pulserec.models.base import Recommender
from pulserec.models.hybrid import Hybrid, fit_blend_weights, standardise

N_ITEMS = 30


def chain_interactions(n_users: int = 80, length: int = 8, seed: int = 0) -> Interactions:
    """Item ``i`` is always followed by ``i + 1`` (mod 30); each user starts somewhere."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u, start in enumerate(rng.integers(0, N_ITEMS, size=n_users)):
        users += [f"u{u}"] * length
        items += [f"i{(start + j) % N_ITEMS}" for j in range(length)]
    events = pd.DataFrame(
        {"user_id": users, "item_id": items, "timestamp": np.arange(len(users), dtype=float)}
    )
    return Interactions.from_events(
        events, IdMap(f"u{u}" for u in range(n_users)), IdMap(f"i{i}" for i in range(N_ITEMS))
    )


def test_standardise_rows() -> None:
    z = standardise(np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]]))
    np.testing.assert_allclose(z[0], [-np.sqrt(1.5), 0.0, np.sqrt(1.5)])
    assert z[1].tolist() == [0.0, 0.0, 0.0]


def test_blend_weights_favour_the_informative_feature() -> None:
    rng = np.random.default_rng(0)
    n_rows, n_items = 200, 50
    targets = rng.integers(0, n_items, size=n_rows)
    informative = rng.standard_normal((n_rows, n_items))
    informative[np.arange(n_rows), targets] += 3.0
    noise = rng.standard_normal((n_rows, n_items))
    weights, loss = fit_blend_weights(np.stack([informative, noise]), targets, l2=1e-3)
    assert weights[0] > 1.0
    assert abs(weights[1]) < 0.3 * weights[0]
    # Better than the uniform softmax the zero start gives.
    assert loss < np.log(n_items)


def test_learns_to_trust_the_predictive_base_and_to_skip_seen_items() -> None:
    train = chain_interactions()
    model = Hybrid(bases="covisit,pop").fit(train)
    w_covisit, w_pop, w_seen = model.weights_
    assert w_covisit > 1.0
    assert w_covisit > 3 * abs(w_pop)
    assert w_seen < 0  # nobody repeats an item here
    # Unmasked, the blend still predicts the chain's next item.
    ids, _ = model.recommend(np.arange(train.n_users), 1, filter_seen=False)
    last = model.models_["covisit"].last_items_[:, 0]  # type: ignore[attr-defined]
    assert np.mean(ids[:, 0] == (last + 1) % N_ITEMS) > 0.9


def test_sequential_base_is_fitted_once_and_weighted_on_its_own_hold_out() -> None:
    train = chain_interactions(n_users=40)
    fast = {"max_len": 8, "n_factors": 16, "n_layers": 1, "dropout": 0.0,
            "learning_rate": 1e-2, "n_epochs": 15, "patience": 3}  # fmt: skip
    model = Hybrid(bases="sequential,pop", base_params={"sequential": fast}).fit(train)
    sequential = model.models_["sequential"]
    # Fitted on all events: its stored sequences end with each user's latest item.
    assert sequential.sequences_[0, 7] == train.item_idx[train.user_idx == 0][-1]  # type: ignore[attr-defined]
    w_sequential, w_pop, _ = model.weights_
    assert w_sequential > 3 * abs(w_pop)


def test_text_base_is_left_out_without_item_vectors(tmp_path: Path) -> None:
    train = chain_interactions(n_users=30)
    model = Hybrid(bases="covisit,content").fit(train)
    assert model.used_.tolist() == [True, False]
    assert list(model.models_) == ["covisit"]
    assert list(model.blend_weights_) == ["covisit", "seen"]
    model.save(tmp_path / "h")
    loaded = Recommender.load(tmp_path / "h")
    assert isinstance(loaded, Hybrid)
    assert loaded.used_.tolist() == [True, False]
    users = np.arange(train.n_users)
    np.testing.assert_array_equal(loaded.score(users), model.score(users))


def test_save_load_rebuilds_every_base(tmp_path: Path) -> None:
    train = chain_interactions(n_users=30)
    vectors = np.random.default_rng(0).standard_normal((N_ITEMS, 4)).astype(np.float32)
    train = train.with_item_vectors(vectors)
    model = Hybrid(bases="ease,itemknn,covisit,content", base_params={"ease": {"l2": 10.0}})
    model.fit(train).save(tmp_path / "h")
    loaded = Recommender.load(tmp_path / "h")
    assert isinstance(loaded, Hybrid)
    assert list(loaded.models_) == ["ease", "itemknn", "covisit", "content"]
    assert loaded.models_["ease"].get_params() == {"l2": 10.0}
    np.testing.assert_array_equal(loaded.weights_, model.weights_)
    np.testing.assert_array_equal(loaded.score(np.arange(30)), model.score(np.arange(30)))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"bases": "ease,nope"}, "unknown base"),
        ({"bases": "ease,hybrid"}, "unknown base"),
        ({"bases": "ease,ease"}, "twice"),
        ({"bases": " , "}, "empty"),
        ({"bases": "ease", "base_params": {"als": {}}}, "not in bases"),
    ],
)
def test_rejects_bad_bases(params: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Hybrid(**params).fit(chain_interactions(n_users=5))  # type: ignore[arg-type]
