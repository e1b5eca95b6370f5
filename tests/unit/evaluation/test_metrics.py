import math

import numpy as np
import pytest
import scipy.sparse as sp

from pulserec.evaluation import metrics as M


def truth_of(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    dense = np.zeros((len(rows), n_items))
    for r, items in enumerate(rows):
        dense[r, items] = 1
    return sp.csr_matrix(dense)


def test_accuracy_matches_hand_computed_values() -> None:
    # user 0: truth {2, 5}; ranked [5, 1, 2] -> hits at ranks 1 and 3
    # user 1: truth {4}; ranked [0, 1, 3] -> no hit
    # user 2: truth {0, 1, 2, 3}; ranked [9, 3, 8] -> hit at rank 2
    truth = truth_of([[2, 5], [4], [0, 1, 2, 3]], 10)
    top = np.array([[5, 1, 2], [0, 1, 3], [9, 3, 8]])
    m = M.accuracy(top, truth, k=3)
    d = [1 / math.log2(r + 1) for r in (1, 2, 3)]
    assert m["recall"] == pytest.approx([1.0, 0.0, 1 / 4])
    assert m["precision"] == pytest.approx([2 / 3, 0.0, 1 / 3])
    assert m["hit"] == pytest.approx([1.0, 0.0, 1.0])
    assert m["mrr"] == pytest.approx([1.0, 0.0, 0.5])
    assert m["ndcg"] == pytest.approx([(d[0] + d[2]) / (d[0] + d[1]), 0.0, d[1] / sum(d)])


def test_accuracy_truncates_to_k_and_ignores_padding() -> None:
    truth = truth_of([[3]], 5)
    top = np.array([[0, -1, 3]])
    assert M.accuracy(top, truth, k=2)["hit"][0] == 0.0
    assert M.accuracy(top, truth, k=3)["mrr"][0] == pytest.approx(1 / 3)


def test_coverage_gini_and_novelty() -> None:
    top = np.array([[0, 1], [0, 2]])
    assert M.coverage(top, 4) == pytest.approx(3 / 4)
    # counts over 4 items: [2, 1, 1, 0] sorted [0, 1, 1, 2]
    x = np.array([0, 1, 1, 2.0])
    ranks = np.arange(1, 5)
    expected = ((2 * ranks - 4 - 1) * x).sum() / (4 * x.sum())
    assert M.exposure_gini(top, 4) == pytest.approx(expected)
    assert M.exposure_gini(np.array([[0], [1], [2], [3]]), 4) == pytest.approx(0.0)
    pop = np.array([4.0, 2.0, 0.0, 1.0])
    # items 0, 1, 0, 2 over 4 users: -log2(1), -log2(.5), -log2(1), -log2(.25) (zero pop -> 1)
    assert M.novelty(top, pop, 4) == pytest.approx((0 + 1 + 0 + 2) / 4)


def test_intra_list_diversity_with_one_hot_genres() -> None:
    feats = np.array([[1, 0], [1, 0], [0, 1], [0, 0]])
    # list [0, 1]: identical genres -> distance 0; list [0, 2]: orthogonal -> 1
    assert M.intra_list_diversity(np.array([[0, 1]]), feats) == pytest.approx(0.0)
    assert M.intra_list_diversity(np.array([[0, 2]]), feats) == pytest.approx(1.0)
    # [0, 1, 2]: pairs (0,1)=0, (0,2)=1, (1,2)=1 -> 2/3; an item without genres is distant
    assert M.intra_list_diversity(np.array([[0, 1, 2]]), feats) == pytest.approx(2 / 3)
    assert M.intra_list_diversity(np.array([[0, 3]]), sp.csr_matrix(feats)) == pytest.approx(1.0)
