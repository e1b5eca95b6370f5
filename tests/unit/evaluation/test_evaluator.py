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


def test_the_hybrids_bases_take_the_parameters_tuned_on_the_split() -> None:
    from pulserec.evaluation import blend_params

    tuned = {"ease": {"l2": 50.0}, "als": {"n_factors": 32}, "pop": {}, "hybrid": {"l2": 1.0}}
    # bases tuned before it run with their settings; the others and other models as given
    out = blend_params("hybrid", tuned, {"bases": "ease,als,covisit"})
    assert out == {
        "bases": "ease,als,covisit",
        "base_params": {"ease": {"l2": 50.0}, "als": {"n_factors": 32}},
    }
    # base_params given for a base win over what was tuned
    given = {"bases": "ease,als", "base_params": {"ease": {"l2": 700.0}}}
    assert blend_params("hybrid", tuned, given) == {
        "bases": "ease,als",
        "base_params": {"als": {"n_factors": 32}, "ease": {"l2": 700.0}},
    }
    assert blend_params("ease", tuned, None) is None
    assert blend_params("ease", tuned, {"l2": 1.0}) == {"l2": 1.0}
    assert blend_params("hybrid", {}, None) is None
