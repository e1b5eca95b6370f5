from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pulserec.catalog.idmap import IdMap
from pulserec.events.interactions import Interactions
from pulserec.models.base import Recommender
from pulserec.models.hybrid import (
    Hybrid,
    blend_logits,
    cross_validated_ndcg,
    fit_blend_weights,
    history_weights,
    select_bases,
    standardise,
    target_ndcg,
)

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


def noisy_signal(targets: np.ndarray, n_items: int, boost: float, seed: int) -> np.ndarray:
    """Standard normal scores with each row's target raised by ``boost``."""
    scores = np.random.default_rng(seed).standard_normal((len(targets), n_items))
    scores[np.arange(len(targets)), targets] += boost
    return scores


def seen_marks(targets: np.ndarray, n_items: int, seed: int) -> np.ndarray:
    """Five random non-target items per row marked as already seen."""
    rng = np.random.default_rng(seed)
    seen = np.zeros((len(targets), n_items))
    for row, target in enumerate(targets):
        others = np.delete(np.arange(n_items), target)
        seen[row, rng.choice(others, 5, replace=False)] = 1.0
    return seen


def test_target_ndcg_known_ranks() -> None:
    logits = np.array(
        [
            [5.0, 1.0, 0.0, 0.0],  # target 0 first
            [5.0, 4.0, 3.0, 0.0],  # target 2 third
            [1.0, 1.0, 1.0, 0.0],  # target 0 tied with two others: expected rank 1
        ]
    )
    ndcg = target_ndcg(logits, np.array([0, 2, 0]), k=10)
    np.testing.assert_allclose(ndcg, [1.0, 1 / np.log2(4), 1 / np.log2(3)])
    # Below the cut-off: nothing; a constant row's ties put the target mid-list.
    assert target_ndcg(np.arange(20.0)[None, ::-1], np.array([10]), k=10)[0] == 0.0
    assert target_ndcg(np.zeros((1, 30)), np.array([3]), k=10)[0] == 0.0


def test_cross_validated_ndcg_scores_each_row_with_weights_from_other_rows() -> None:
    targets = np.random.default_rng(1).integers(0, 40, size=90)
    features = np.stack([noisy_signal(targets, 40, 4.0, 2), seen_marks(targets, 40, 3)])
    folds = np.arange(90) % 3
    per_row = cross_validated_ndcg(features, targets, folds, l2=1e-3)
    assert per_row.shape == (90,)
    # Any positive weight on the signal ranks as the signal does, so the cross-validated
    # figure equals the signal's own NDCG with seen items pushed down.
    masked = np.where(features[1] > 0, -np.inf, features[0])
    np.testing.assert_allclose(per_row, target_ndcg(masked, targets))


def test_selection_leaves_a_pure_noise_base_out() -> None:
    targets = np.random.default_rng(0).integers(0, 50, size=300)
    good = noisy_signal(targets, 50, 2.5, 1)
    noise = np.random.default_rng(2).standard_normal(good.shape)
    seen = seen_marks(targets, 50, 3)
    features = np.stack([noise, good, seen])
    chosen, trace = select_bases(features, targets, l2=1e-3)
    assert chosen == [1]
    # The blend ranks as the good base with seen items pushed down (all but a few of them:
    # the penalised seen weight is large, not infinite).
    masked = np.where(seen > 0, -np.inf, good)
    assert trace == [pytest.approx(target_ndcg(masked, targets).mean(), abs=0.005)]
    # Fitted on everything, the plain likelihood blend does give the noise some weight.
    weights, _ = fit_blend_weights(features, targets, l2=1e-3)
    assert weights[0] != 0.0


def test_selection_adds_a_base_that_carries_independent_evidence() -> None:
    targets = np.random.default_rng(0).integers(0, 50, size=600)
    first = noisy_signal(targets, 50, 2.0, 1)
    second = noisy_signal(targets, 50, 1.5, 2)  # weaker, but its noise is independent
    features = np.stack([second, first, seen_marks(targets, 50, 3)])
    chosen, trace = select_bases(features, targets, l2=1e-3)
    assert chosen == [1, 0]
    assert trace[1] > trace[0]
    weights, _ = fit_blend_weights(features, targets, l2=1e-3)
    blend = target_ndcg(blend_logits(weights, features), targets).mean()
    assert blend > target_ndcg(first, targets).mean()


def test_selection_needs_a_real_gain_to_add_a_base() -> None:
    targets = np.random.default_rng(0).integers(0, 50, size=300)
    good = noisy_signal(targets, 50, 2.5, 1)
    features = np.stack([good, good.copy(), seen_marks(targets, 50, 3)])
    # A copy adds nothing: even a zero threshold does not take it.
    chosen, trace = select_bases(features, targets, l2=1e-3, min_gain_se=0.0)
    assert len(chosen) == 1 and len(trace) == 1


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


def test_a_noise_base_gets_no_weight_and_the_blend_ranks_as_the_good_base(
    tmp_path: Path,
) -> None:
    # Random item vectors make the content base pure noise on the chain.
    vectors = np.random.default_rng(0).standard_normal((N_ITEMS, 8)).astype(np.float32)
    train = chain_interactions().with_item_vectors(vectors)
    model = Hybrid(bases="content,covisit").fit(train)
    assert model.blend_weights_["content"] == 0.0
    assert model.blend_weights_["covisit"] > 1.0
    assert list(model.models_) == ["covisit"]
    assert [names for names, _ in model.selection_] == [("covisit",)]
    alone = Hybrid(bases="covisit").fit(train)
    users = np.arange(train.n_users)
    ids, _ = model.recommend(users, 5)
    ids_alone, _ = alone.recommend(users, 5)
    np.testing.assert_array_equal(ids, ids_alone)
    # Saved and loaded, the dropped base stays dropped.
    model.save(tmp_path / "h")
    loaded = Recommender.load(tmp_path / "h")
    assert isinstance(loaded, Hybrid)
    assert list(loaded.models_) == ["covisit"]
    np.testing.assert_array_equal(loaded.score(users), model.score(users))


def test_the_held_out_events_are_the_latest_or_random_ones() -> None:
    # on the chain the next item follows the latest (co-visitation), while an event drawn
    # from the middle of a chain is told by the user's other items (item-kNN)
    train = chain_interactions()
    latest = Hybrid(bases="covisit,itemknn", holdout="last").fit(train)
    drawn = Hybrid(bases="covisit,itemknn", holdout="random").fit(train)
    assert [names for names, _ in latest.selection_] == [("covisit",)]
    assert [names for names, _ in drawn.selection_] == [("itemknn",)]
    assert latest.blend_weights_["itemknn"] == drawn.blend_weights_["covisit"] == 0.0


@pytest.mark.parametrize(("protocol", "chosen"), [("loo", "last"), ("random811", "random")])
def test_the_grid_search_takes_the_held_out_events_the_split_asks_for(
    protocol: str, chosen: str
) -> None:
    from pulserec.evaluation import tune
    from pulserec.evaluation.splits import make_split, to_split_data

    rng = np.random.default_rng(0)
    users, items = [], []
    for u, start in enumerate(rng.integers(0, N_ITEMS, size=120)):
        users += [f"u{u}"] * 10
        items += [f"i{(start + j) % N_ITEMS}" for j in range(10)]
    events = pd.DataFrame(
        {"user_id": users, "item_id": items, "timestamp": np.arange(len(users), dtype=float)}
    )
    data = to_split_data(make_split(events, protocol, 0))
    model, trials = tune("hybrid", data, base_params={"bases": "covisit,itemknn"})
    assert isinstance(model, Hybrid) and model.holdout == chosen
    by = {t["params"]["holdout"]: t["ndcg@10"] for t in trials}
    assert by[chosen] > by[next(h for h in by if h != chosen)] + 0.1


def test_selection_all_blends_every_base() -> None:
    vectors = np.random.default_rng(0).standard_normal((N_ITEMS, 8)).astype(np.float32)
    train = chain_interactions().with_item_vectors(vectors)
    model = Hybrid(bases="content,covisit", selection="all").fit(train)
    assert list(model.models_) == ["content", "covisit"]
    assert model.blend_weights_["content"] != 0.0
    assert model.selection_ == []


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
    model = Hybrid(
        bases="ease,itemknn,covisit,content", base_params={"ease": {"l2": 10.0}}, selection="all"
    )
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
        ({"bases": "ease", "selection": "best"}, "selection must be one of"),
        ({"bases": "ease", "n_folds": 1}, "n_folds must be >= 2"),
        ({"bases": "ease", "min_gain_se": -1.0}, "min_gain_se must be >= 0"),
        ({"bases": "ease", "holdout": "first"}, "holdout must be one of"),
    ],
)
def test_rejects_bad_bases(params: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Hybrid(**params).fit(chain_interactions(n_users=5))  # type: ignore[arg-type]


def test_history_weights_give_each_group_the_share_of_the_users_ranked() -> None:
    # rows: two with 2 events before, three with 12, one with 30; users ranked: four with
    # 1-2 events, none with 10-19, four with 20+, two with 5-9 (no rows there: they count
    # in the nearest longer group with rows, 10-19)
    rows = np.array([2, 2, 12, 12, 12, 30])
    users = np.array([1, 1, 2, 2, 30, 30, 30, 30, 6, 7])
    w = history_weights(rows, users)
    share = {"1-2": w[:2].sum(), "10-19": w[2:5].sum(), "20+": w[5:].sum()}
    assert share == pytest.approx({"1-2": 0.4 * 6, "10-19": 0.2 * 6, "20+": 0.4 * 6})
    assert w.mean() == pytest.approx(1.0)
    assert w[0] == w[1] and w[2] == w[3] == w[4]
    # users shorter than any row count in the shortest rows' group
    assert history_weights(np.array([5, 25]), np.array([1, 1, 1, 25])).tolist() == [1.5, 0.5]


def test_weighted_selection_follows_the_rows_that_stand_for_the_users_ranked() -> None:
    """Held-out rows of long histories, where a second base adds, outnumber those of
    short ones, where it is noise: unweighted, the selection takes it; with the short
    rows weighed as the users ranked are (most of them short), it leaves it out."""
    rng = np.random.default_rng(0)
    short, long = 200, 600
    targets = rng.integers(0, 50, size=short + long)
    first = noisy_signal(targets, 50, 2.5, 1)
    second = rng.standard_normal(first.shape)
    second[short + np.arange(long), targets[short:]] += 3.0  # informative on long rows only
    first[short + np.arange(long), targets[short:]] -= 1.5
    features = np.stack([first, second, seen_marks(targets, 50, 3)])
    plain, _ = select_bases(features, targets, l2=1e-3)
    assert sorted(plain) == [0, 1]
    lengths = np.r_[np.full(short, 2), np.full(long, 25)]
    ranked = np.r_[np.full(95, 1), np.full(5, 25)]  # 95 % of the users ranked are short
    rows = history_weights(lengths, ranked)
    weighted, _ = select_bases(features, targets, l2=1e-3, rows=rows)
    assert weighted == [0]
    # the weighted fit keeps the first base's weight above the second's
    weights, _ = fit_blend_weights(features, targets, 1e-3, rows)
    assert weights[0] > weights[1]
