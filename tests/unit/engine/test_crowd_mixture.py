"""The two-expert blend: fitted where hot items explain part of the choices, kept only
where it ranks held-out choices better than the linear blend, scored as a mixture by the
ranker, saved with the models."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from shop import CFG, catalog, history, tiny_models

from pulserec.engine import Engine
from pulserec.engine.features import BLEND_NAMES
from pulserec.engine.mixture import (
    MIN_TERM_LISTS,
    Mixture,
    choose_mixture,
    crowd_columns,
    fit_mixture,
)
from pulserec.engine.modelset import ModelSet
from pulserec.ranking import ChoiceData, mixed, mixture_ranks
from pulserec.types import Event

HOT, OWN = BLEND_NAMES.index("trending_fast"), BLEND_NAMES.index("covisit")


def choices(hot_share: float, n_lists: int = 400, seed: int = 0) -> ChoiceData:
    """Lists of 10 hot items (the last hour's count 2 to 4) and 10 of the user's own
    (co-visitation 0.5 to 5); in ``hot_share`` of the lists the user takes a hot item
    (the hotter the likelier), else mostly the best co-visited one. Users of segment 1."""
    rng = np.random.default_rng(seed)
    features, chosen = [], []
    heat = np.linspace(4.0, 2.0, 10)
    for _ in range(n_lists):
        f = np.zeros((20, len(BLEND_NAMES)))
        f[:10, HOT] = heat
        f[10:, OWN] = np.linspace(5.0, 0.5, 10)
        features.append(f)
        if rng.random() < hot_share:
            chosen.append(int(rng.choice(10, p=np.exp(heat) / np.exp(heat).sum())))
        else:
            chosen.append(10 + min(int(rng.geometric(0.7)) - 1, 9))
    return ChoiceData(features, chosen, [1] * n_lists)


def linear() -> np.ndarray:
    """A blend that ranks by co-visitation and hardly weighs the last hour's count."""
    w = np.zeros(len(BLEND_NAMES))
    w[OWN], w[HOT] = 1.5, 0.1
    return w


def test_where_hot_items_explain_part_of_the_choices_the_crowd_gets_that_share() -> None:
    fitted = fit_mixture(choices(0.4), linear())
    assert 0.3 < fitted.share < 0.5  # about the 40 % of choices of a hot item
    assert fitted.crowd[HOT] > 0  # the crowd's expert reads the hot count ...
    assert not fitted.crowd[~crowd_columns()].any()  # ... and the crowd's features alone
    assert fitted.own[OWN] > 0
    # the linear blend puts the hottest item below every co-visited one, the mixture
    # among the top three
    first = choices(0.4).features[0]

    def place(scores: np.ndarray) -> int:
        return int((scores > scores[0]).sum())

    assert place(first @ linear()) == 10
    assert place(mixed(first @ fitted.own, first @ fitted.crowd, fitted.share)) <= 2
    # a held column keeps the linear weight in the own expert, none in the crowd's
    held = np.zeros(len(BLEND_NAMES), bool)
    held[HOT] = True
    kept = fit_mixture(choices(0.4), linear(), held)
    assert kept.own[HOT] == linear()[HOT] and kept.crowd[HOT] == 0.0
    # a crowd's expert given every column reads the others too
    free = fit_mixture(choices(0.4), linear(), columns=np.ones(len(BLEND_NAMES), bool))
    assert free.crowd[OWN] != 0.0 and 0.3 < free.share < 0.7


def test_the_mixture_is_kept_only_where_it_ranks_held_out_choices_better() -> None:
    metrics: dict[str, float] = {}
    kept = choose_mixture(choices(0.4), linear(), metrics)
    assert kept is not None and metrics["mixture_kept"] == 1.0
    assert metrics["mixture_gain"] > metrics["mixture_se"] > 0
    assert metrics["crowd_share"] == kept.share
    assert 0 < metrics["mixture_ndcg@10"] <= metrics["mixture_recall@10"] <= 1
    # the user always takes their own: the linear blend ranks as well, nothing to gain
    plain: dict[str, float] = {}
    assert choose_mixture(choices(0.0), linear(), plain) is None
    assert plain["mixture_kept"] == 0.0 and plain["mixture_gain"] <= plain["mixture_se"]
    few: dict[str, float] = {}
    assert choose_mixture(choices(0.4, n_lists=MIN_TERM_LISTS - 1), linear(), few) is None
    assert few == {"mixture_kept": 0.0}


def test_the_mixture_of_two_softmaxes_known_answer() -> None:
    own, crowd = np.array([2.0, 0.0]), np.array([0.0, 3.0])
    p_own = np.exp(own) / np.exp(own).sum()
    p_crowd = np.exp(crowd) / np.exp(crowd).sum()
    np.testing.assert_allclose(mixed(own, crowd, 0.5), np.log(0.5 * p_crowd + 0.5 * p_own))
    assert np.argmax(mixed(own, crowd, 0.5)) == 1  # the hot item first
    assert np.argmax(mixed(own, crowd, 0.05)) == 0  # a small share: the own expert's
    assert len(mixed(np.zeros(0), np.zeros(0), 0.5)) == 0
    # ranks of the chosen: ties count against it
    f = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    data = ChoiceData([np.c_[f, np.zeros((3, len(BLEND_NAMES) - 2))]], [1])
    flat = np.zeros(len(BLEND_NAMES))
    assert mixture_ranks(data, flat, flat, 0.5).tolist() == [2]


def test_the_crowd_expert_is_saved_with_the_models(tmp_path: Path) -> None:
    weights = np.zeros(len(BLEND_NAMES))
    weights[HOT] = 0.7
    models = replace(tiny_models(), crowd_weights=weights, crowd_share=0.2)
    loaded = ModelSet.load(models.save(tmp_path / "v1"), BLEND_NAMES)
    assert loaded.crowd_weights is not None and loaded.crowd_share == 0.2
    np.testing.assert_array_equal(loaded.crowd_weights, weights)
    plain = ModelSet.load(tiny_models().save(tmp_path / "v2"), BLEND_NAMES)
    assert plain.crowd_weights is None and plain.crowd_share == 0.0


def test_the_ranker_serves_the_mixture_unless_an_operator_sets_the_weights() -> None:
    engine = Engine(config=replace(CFG, sequential=False))
    engine.upsert_items(catalog())
    engine.bootstrap(history())
    assert engine.train() is not None and engine.models is not None
    t = 2_000_000.0
    for j in range(40):  # everyone takes one hiking item this hour
        engine.ingest(Event(f"crowd{j}", "hiking-7", "click", t + j))
    engine.ingest(Event("fan", "jazz-3", "click", t + 50))
    engine.ingest(Event("fan", "jazz-4", "click", t + 51))
    crowd = np.zeros(len(BLEND_NAMES))
    crowd[HOT] = 2.0
    ranker = engine.ranker

    def top(models: ModelSet, **kwargs: object) -> str:
        request = ranker.request(models, engine.states.get("fan"), "fan")
        picked, _, _ = ranker.recommend(request, 5, **kwargs)  # type: ignore[arg-type]
        return engine.catalog.at(int(picked[0])).item_id

    own = engine.models
    assert top(own).startswith("jazz")  # the fan's own items lead the linear blend
    mixture = replace(own, crowd_weights=crowd, crowd_share=0.9)
    assert top(mixture) == "hiking-7"  # the crowd's share takes the hour's item first
    request = ranker.request(mixture, engine.states.get("fan"), "fan")
    _, _, reasons = ranker.recommend(request, 5)
    assert reasons[0] == "popular this hour"  # the crowd's expert gave it its place
    assert all("Jazz" in r for r in reasons[1:])  # the user's own items, the others'
    # an operator's weights rank by themselves, with no crowd's expert beside them
    assert top(mixture, weights={"covisit": 1.0}).startswith("jazz")
    # a variant's factors apply to both experts: without the hour's count the crowd's
    # expert has nothing to say, and the own expert ranks
    assert top(mixture, weight_factors={"trending_fast": 0.0}).startswith("jazz")
    # scoring given items: the mixture over them
    idx = engine.catalog.id_map.lookup(["jazz-5", "hiking-7"])
    request = ranker.request(mixture, engine.states.get("fan"), "fan")
    scores = ranker.score(request, idx)
    assert scores[1] > scores[0] and np.logaddexp.reduce(scores) <= 1e-9


def test_a_refit_that_keeps_the_mixture_serves_it_and_reports_its_figures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pulserec.engine.training as training

    crowd = np.zeros(len(BLEND_NAMES))
    crowd[HOT] = 1.0

    def kept(
        choices: ChoiceData, weights: np.ndarray, metrics: dict[str, float], **_: object
    ) -> Mixture:
        metrics |= {"mixture_kept": 1.0, "mixture_recall@10": 0.9, "mixture_ndcg@10": 0.7}
        return Mixture(weights * 2.0, crowd, 0.3)

    monkeypatch.setattr(training, "choose_mixture", kept)
    engine = Engine(config=replace(CFG, sequential=False))
    engine.upsert_items(catalog())
    engine.bootstrap(history())
    models = engine.train()
    assert models is not None and models.crowd_share == 0.3
    assert models.segment_weights is None  # the own expert replaces the segments' rows
    np.testing.assert_array_equal(models.crowd_weights, crowd)
    m = models.metrics
    assert (m["recall@10"], m["ndcg@10"]) == (0.9, 0.7)  # what serves
    assert "linear_ndcg@10" in m and m["linear_ndcg@10"] != 0.7
