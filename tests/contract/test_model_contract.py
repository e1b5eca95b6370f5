"""The protocol every registered model passes; a new entry in MODELS is covered automatically.

The data is a checkerboard: users 0-9 interact only with items 0-9, users 10-19
only with items 10-19, each missing two or three items of their own group, so
the right recommendations are known.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from pulserec.events.interactions import Interactions
from pulserec.models import MODELS, make_model
from pulserec.models.base import Recommender

N_USERS = N_ITEMS = 20
GROUP = 10

_FAST_SEQUENTIAL = {
    # Ten items per user and one small block: a fit takes about a second on the checkerboard.
    "max_len": 10, "n_factors": 16, "n_layers": 1, "n_epochs": 40, "patience": 10,
    "learning_rate": 5e-3, "dropout": 0.1,
}  # fmt: skip
_FAST_ALS = {"n_factors": 2, "n_epochs": 10, "regularization": 0.1, "alpha": 2.0}

FAST_PARAMS: dict[str, dict[str, Any]] = {
    # Two groups need two factors; more let ALS memorise which items each user lacks.
    "als": _FAST_ALS,
    "bpr": {"n_factors": 4, "n_epochs": 50, "learning_rate": 0.05, "regularization": 0.01},
    "sequential": _FAST_SEQUENTIAL,
    "hybrid": {"base_params": {"sequential": _FAST_SEQUENTIAL, "als": _FAST_ALS}},
}
"""Small, quick settings for slow models; every other model runs with its defaults."""

NON_PERSONALISED = {"pop"}
"""Models exempt from the group checks (test_pop_ranks_by_count covers them)."""


def missing_local(local_user: int) -> set[int]:
    """Own-group items (0-9 within the group) a user has not interacted with."""
    gone = {local_user, (local_user + 1) % GROUP}
    if local_user >= 6:
        gone.add(9)  # makes the last item of each group less popular than the rest
    return gone


def checkerboard() -> Interactions:
    users, items = [], []
    for u in range(N_USERS):
        group = u // GROUP
        for j in range(GROUP):
            if j not in missing_local(u % GROUP):
                users.append(str(u))
                items.append(str(group * GROUP + j))
    events = pd.DataFrame(
        {"user_id": users, "item_id": items, "timestamp": np.arange(len(users), dtype=float)}
    )
    inter = Interactions.from_events(events)
    # Dense indices equal the raw ids only if first-seen order is 0, 1, 2, ...: check it.
    assert inter.users.to_list() == [str(u) for u in range(N_USERS)]
    assert sorted(inter.items.to_list(), key=int) == [str(i) for i in range(N_ITEMS)]
    return inter


def own_unseen(inter: Interactions, user_idx: int) -> set[int]:
    first = user_idx // GROUP * GROUP
    return {inter.items.idx(str(first + j)) for j in missing_local(user_idx % GROUP)}


def group_items(inter: Interactions, group: int) -> set[int]:
    return {inter.items.idx(str(group * GROUP + j)) for j in range(GROUP)}


@pytest.fixture(scope="module")
def data() -> Interactions:
    inter = checkerboard()
    # item content for models that read it: one direction per item group
    groups = np.array([int(i) // GROUP for i in inter.items.to_list()])
    return inter.with_item_vectors(np.eye(2, dtype=np.float32)[groups])


@pytest.fixture(scope="module", params=sorted(MODELS))
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def fitted(name: str, data: Interactions) -> Recommender:
    return make_model(name, **FAST_PARAMS.get(name, {})).fit(data)


def history_row(inter: Interactions, raw_items: list[int]) -> sp.csr_matrix:
    cols = [inter.items.idx(str(i)) for i in raw_items]
    return sp.csr_matrix(
        (np.ones(len(cols), dtype=np.float32), ([0] * len(cols), cols)), shape=(1, N_ITEMS)
    )


def test_fit_returns_self(name: str, data: Interactions) -> None:
    model = make_model(name, **FAST_PARAMS.get(name, {}))
    assert model.fit(data) is model


def test_param_grid_is_small_and_names_real_hyperparameters(name: str) -> None:
    model = make_model(name)
    grid = type(model).param_grid
    assert set(grid) <= set(model.get_params())
    assert len(list(itertools.product(*grid.values()))) <= 12


def test_score_shape_and_dtype(fitted: Recommender) -> None:
    scores = fitted.score(np.arange(N_USERS))
    assert scores.shape == (N_USERS, N_ITEMS)
    assert scores.dtype == np.float32
    assert np.isfinite(scores).all()


def test_refit_with_same_params_is_reproducible(
    name: str, data: Interactions, fitted: Recommender
) -> None:
    again = make_model(name, **fitted.get_params()).fit(data)
    np.testing.assert_array_equal(again.score(np.arange(N_USERS)), fitted.score(np.arange(N_USERS)))


def test_save_load_round_trip_without_pickle(
    fitted: Recommender, data: Interactions, tmp_path: Path
) -> None:
    fitted.save(tmp_path / "m")
    with np.load(tmp_path / "m" / "model.npz", allow_pickle=False) as z:
        assert all(z[key].dtype != object for key in z.files)
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["model"] == fitted.name
    loaded = Recommender.load(tmp_path / "m")
    assert type(loaded) is type(fitted)
    assert loaded.get_params() == fitted.get_params()
    users = np.array([*range(N_USERS), -1, N_USERS])
    np.testing.assert_array_equal(loaded.score(users), fitted.score(users))
    row = history_row(data, [0, 1, 2])
    np.testing.assert_array_equal(loaded.score([-1], row), fitted.score([-1], row))
    assert loaded.recommend(users, 5)[0].tolist() == fitted.recommend(users, 5)[0].tolist()


def test_batch_equals_single(fitted: Recommender, data: Interactions) -> None:
    users = np.array([0, 7, 13, 19, -1, N_USERS])
    ids, scores = fitted.recommend(users, 5)
    for row, u in enumerate(users):
        one_ids, one_scores = fitted.recommend([u], 5)
        assert one_ids[0].tolist() == ids[row].tolist()
        np.testing.assert_array_equal(one_scores[0], scores[row])
    rows = sp.vstack([history_row(data, [0, 1, 2]), history_row(data, [15, 16])]).tocsr()
    ids, scores = fitted.recommend([-1, -1], 5, user_items=rows)
    for row in range(2):
        one_ids, one_scores = fitted.recommend([-1], 5, user_items=rows[row])
        assert one_ids[0].tolist() == ids[row].tolist()
        np.testing.assert_array_equal(one_scores[0], scores[row])


def test_filter_seen_never_returns_history(fitted: Recommender, data: Interactions) -> None:
    ids, scores = fitted.recommend(np.arange(N_USERS), N_ITEMS)
    for u in range(N_USERS):
        seen = set(data.matrix[u].indices.tolist())
        returned = set(ids[u][np.isfinite(scores[u])].tolist())
        assert returned == set(range(N_ITEMS)) - seen


def test_exclude_removes_given_items(fitted: Recommender) -> None:
    users = np.array([3, 14])
    top, _ = fitted.recommend(users, 3)
    exclude = sp.csr_matrix(
        (np.ones(2, dtype=np.float32), ([0, 1], [top[0, 0], top[1, 0]])), shape=(2, N_ITEMS)
    )
    ids, scores = fitted.recommend(users, 3, exclude=exclude)
    full = fitted.score(users)
    for row in range(2):
        assert top[row, 0] not in ids[row].tolist()
        # The rest move up one place (compared by score: tied items may swap).
        np.testing.assert_array_equal(scores[row, :2], full[row, top[row, 1:]])


def test_allow_restricts_and_pads_with_minus_inf(fitted: Recommender) -> None:
    allow = np.array([1, 5, 12, 18])
    ids, scores = fitted.recommend(np.arange(N_USERS), 6, allow=allow, filter_seen=False)
    assert np.isinf(scores[:, 4:]).all() and (scores[:, 4:] < 0).all()
    for u in range(N_USERS):
        assert sorted(ids[u, :4].tolist()) == allow.tolist()
        full = fitted.score([u])[0]
        assert np.all(np.diff(full[ids[u, :4]]) <= 0)


def test_unknown_user_gets_popularity(fitted: Recommender, data: Interactions) -> None:
    counts = np.asarray(data.matrix.sum(axis=0)).ravel()
    scores = fitted.score([-1, N_USERS, 10**6])
    np.testing.assert_array_equal(scores, np.tile(counts, (3, 1)).astype(np.float32))
    empty = sp.csr_matrix((1, N_ITEMS), dtype=np.float32)
    np.testing.assert_array_equal(fitted.score([-1], empty)[0], counts)


def test_pop_ranks_by_count(data: Interactions) -> None:
    counts = np.asarray(data.matrix.sum(axis=0)).ravel()
    model = make_model("pop").fit(data)
    ids, scores = model.recommend([-1], N_ITEMS)
    np.testing.assert_array_equal(scores[0], counts[ids[0]])
    assert np.all(np.diff(scores[0]) <= 0)
    # Item 9 of each group is the one fewer users have: it comes last.
    assert set(ids[0, -2:].tolist()) == {data.items.idx("9"), data.items.idx("19")}
    # A history changes nothing but what is filtered out.
    np.testing.assert_array_equal(model.score([-1], history_row(data, [0, 1]))[0], counts)


@pytest.fixture(scope="module", params=sorted(set(MODELS) - NON_PERSONALISED))
def personalised(request: pytest.FixtureRequest, data: Interactions) -> Recommender:
    name = str(request.param)
    return make_model(name, **FAST_PARAMS.get(name, {})).fit(data)


def test_each_user_gets_own_group_unseen_items(
    personalised: Recommender, data: Interactions
) -> None:
    for u in range(N_USERS):
        want = own_unseen(data, u)
        ids, _ = personalised.recommend([u], len(want))
        assert set(ids[0].tolist()) == want, f"user {u}"


def test_fold_in_new_user_gets_own_group(personalised: Recommender, data: Interactions) -> None:
    for group in (0, 1):
        history = [group * GROUP + j for j in range(6)]
        ids, scores = personalised.recommend([-1], 4, user_items=history_row(data, history))
        assert np.isfinite(scores).all()
        seen = {data.items.idx(str(i)) for i in history}
        assert set(ids[0].tolist()) == group_items(data, group) - seen, f"group {group}"
