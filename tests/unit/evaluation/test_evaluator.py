import numpy as np
import pandas as pd

from pulserec.evaluation import fit_model, leave_one_out, run_model, to_split_data
from pulserec.models import ItemKNN


def tiny_split():  # type: ignore[no-untyped-def]
    # four users walk the same item order, so the next item is always predictable
    rows = [(u, f"i{j + s}", float(j)) for s, u in enumerate("abcd") for j in range(6)]
    ev = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).assign(type="view")
    return to_split_data(leave_one_out(ev))


def test_fit_model_returns_the_tuned_model_without_refitting(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    data = tiny_split()
    fits: list[dict] = []
    real_fit = ItemKNN.fit

    def counting_fit(self, train):  # type: ignore[no-untyped-def]
        fits.append(self.get_params())
        return real_fit(self, train)

    monkeypatch.setattr(ItemKNN, "fit", counting_fit)
    model, fit_s, trials = fit_model("itemknn", data)
    assert (
        len(fits)
        == len(trials)
        == len(ItemKNN.param_grid["k_neighbors"]) * len(ItemKNN.param_grid["shrink"])
    )  # one fit per grid point, none after
    best = max(trials, key=lambda t: t["ndcg@10"])
    assert best["params"].items() <= model.get_params().items()
    assert fit_s == best["fit_seconds"]


def test_run_model_masks_history_only_when_asked() -> None:
    # train popularity: i3 4, i2 3, i4 3, i1 2, i5 2, i0 1, i6 1; test targets i5..i8
    data = tiny_split()
    masked = run_model("pop", data, k=2, mask_history=True)
    unmasked = run_model("pop", data, k=2, mask_history=False)
    assert masked.n_users == unmasked.n_users == 4
    # unmasked, every list is i3 and i2/i4: no target; masked, a gets i5 and b gets i6
    assert unmasked.metrics["recall@2"] == 0.0
    assert masked.metrics["recall@2"] == 0.5


def test_the_hybrid_may_take_its_bases_as_they_were_tuned_on_the_split() -> None:
    from pulserec.evaluation import blend_grid
    from pulserec.models.hybrid import Hybrid

    tuned = {"ease": {"l2": 50.0}, "als": {"n_factors": 32}, "pop": {}, "hybrid": {"l2": 1.0}}
    # the grid offers the defaults or the bases tuned before it; other bases stay default
    grid = blend_grid("hybrid", tuned, {"bases": "ease,als,covisit"})
    assert grid == {
        **Hybrid.param_grid,
        "base_params": [None, {"ease": {"l2": 50.0}, "als": {"n_factors": 32}}],
    }
    # base_params given for a base stay in both choices and win over what was tuned
    given = {"bases": "ease,als", "base_params": {"ease": {"l2": 700.0}}}
    grid = blend_grid("hybrid", tuned, given)
    assert grid is not None and grid["base_params"] == [
        {"ease": {"l2": 700.0}},
        {"als": {"n_factors": 32}, "ease": {"l2": 700.0}},
    ]
    assert blend_grid("ease", tuned) is None
    assert blend_grid("hybrid", {}) is None
    assert blend_grid("hybrid", {"ease": {}}, {"bases": "als"}) is None


def test_the_grid_search_keeps_the_hybrid_with_the_bases_that_rank_validation_better() -> None:
    from pulserec.evaluation import blend_grid, fit_model
    from pulserec.evaluation.splits import make_split, to_split_data

    # users walk a chain of 30 items; the held-out events are random ones
    rng = np.random.default_rng(0)
    users, items = [], []
    for u, start in enumerate(rng.integers(0, 30, size=120)):
        users += [f"u{u}"] * 10
        items += [f"i{(start + j) % 30}" for j in range(10)]
    events = pd.DataFrame(
        {"user_id": users, "item_id": items, "timestamp": np.arange(len(users), dtype=float)}
    )
    data = to_split_data(make_split(events, "random811", 0))
    knn, _, _ = fit_model("itemknn", data)
    params = {"bases": "itemknn", "holdout": "random"}
    grid = blend_grid("hybrid", {"itemknn": knn.get_params()}, params)
    assert grid is not None
    model, _, trials = fit_model("hybrid", data, params=params, grid=grid)
    # both held-out choices, unweighted and matched to the users' history lengths, each
    # with the default and with the tuned bases
    assert [t["params"]["base_params"] for t in trials] == [None, grid["base_params"][1]] * 4
    assert [t["params"]["match_history"] for t in trials] == [False, False, True, True] * 2
    best = max(trials, key=lambda t: t["ndcg@10"])
    for key in ("base_params", "holdout", "match_history"):
        assert model.get_params()[key] == best["params"][key]
