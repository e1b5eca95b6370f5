"""Validation figures of the ranking: ranks, Recall@k / NDCG@k and the refit's report."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from shop import tiny_models

from pulserec.engine.blend import validation_quality
from pulserec.engine.features import BLEND_NAMES
from pulserec.ranking import ChoiceData, chosen_ranks, cross_fitted_ranks, recall_ndcg


def decided_by_feature_0(n_lists: int, n_candidates: int = 12, missed: int = 0) -> ChoiceData:
    """Lists where the chosen candidate (at a varying position) is the only one with
    feature 0 set; the other features are noise."""
    rng = np.random.default_rng(0)
    lists, chosen = [], []
    for j in range(n_lists):
        x = rng.normal(size=(n_candidates, len(BLEND_NAMES)))
        x[:, 0] = 0.0
        at = j % n_candidates
        x[at, 0] = 1.0
        lists.append(x)
        chosen.append(at)
    return ChoiceData(lists, chosen, missed=missed)


def test_ranks_count_ties_against_the_chosen_item() -> None:
    data = ChoiceData([np.array([[3.0], [1.0], [2.0]]), np.array([[1.0], [1.0], [1.0]])], [2, 0])
    assert chosen_ranks(data, np.array([1.0])).tolist() == [1, 2]
    assert chosen_ranks(data, np.array([-1.0])).tolist() == [1, 2]


def test_recall_and_ndcg_of_known_ranks() -> None:
    recall, ndcg = recall_ndcg(np.array([0, 9, 10]), missed=1, k=10)
    assert recall == pytest.approx(2 / 4)
    assert ndcg == pytest.approx((1.0 + 1.0 / np.log2(11.0)) / 4)
    assert recall_ndcg(np.zeros(0, dtype=np.int64)) == (0.0, 0.0)


def test_cross_fitted_weights_find_the_deciding_feature_without_seeing_the_list() -> None:
    data = decided_by_feature_0(60)
    ranks = cross_fitted_ranks(data, np.zeros(len(BLEND_NAMES)))
    assert ranks.tolist() == [0] * 60


def test_a_refit_reports_its_figures_and_the_previous_versions_on_the_same_choices() -> None:
    data = decided_by_feature_0(60, missed=20)
    good = replace(tiny_models(), weights=np.eye(len(BLEND_NAMES))[0])
    blind = replace(tiny_models(), weights=-np.eye(len(BLEND_NAMES))[0])  # ranks it last
    report = validation_quality(data, blind)
    # 60 of 80 choices had their item among the candidates, all ranked first
    assert report["validation_choices"] == 80.0
    assert report["recall@10"] == pytest.approx(0.75)
    assert report["ndcg@10"] == pytest.approx(0.75)
    # the chosen item ranks 12th of 12 under the previous weights: outside the top 10
    assert report["previous_recall@10"] == 0.0 and report["previous_ndcg@10"] == 0.0
    assert validation_quality(data, good)["previous_recall@10"] == pytest.approx(0.75)
    # no previous version, or one fitted on other features: no previous figures
    assert "previous_recall@10" not in validation_quality(data, None)
    other = replace(good, features=("other",), weights=np.ones(1))
    assert "previous_recall@10" not in validation_quality(data, other)
    # too few held-out choices to read: only their count
    assert validation_quality(decided_by_feature_0(5), good) == {"validation_choices": 5.0}
