import numpy as np
import pytest

from pulserec.rerank import MMRReranker, mmr

# items 0-2 are near-copies (one topic), 3 and 4 are other topics with lower scores
VECS = np.array([[1, 0, 0], [0.99, 0.14, 0], [0.98, 0, 0.2], [0, 1, 0], [0, 0, 1]], dtype=float)
VECS /= np.linalg.norm(VECS, axis=1, keepdims=True)
SCORES = np.array([1.0, 0.95, 0.9, 0.5, 0.4])


def test_zero_diversity_is_plain_ranking() -> None:
    assert mmr(SCORES, VECS, 3, 0.0).tolist() == [0, 1, 2]


def test_more_diversity_brings_other_topics_up() -> None:
    some = mmr(SCORES, VECS, 3, 0.5).tolist()
    assert some[0] == 0 and set(some[1:]) == {3, 4}
    assert mmr(SCORES, VECS, 5, 0.1).tolist() == [0, 1, 2, 3, 4]  # small diversity: same order


def test_masked_candidates_never_chosen_and_k_is_capped() -> None:
    scores = SCORES.copy()
    scores[0] = -np.inf
    picked = mmr(scores, VECS, 10, 0.4)
    assert 0 not in picked.tolist() and len(picked) == 4
    assert MMRReranker(0.0).rerank(scores, VECS, 2).tolist() == [1, 2]


def test_diversity_out_of_range_is_named() -> None:
    with pytest.raises(ValueError, match=r"diversity: expected a value in \[0, 1\]"):
        mmr(SCORES, VECS, 2, 1.5)
