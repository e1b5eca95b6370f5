"""Maximal marginal relevance: trade relevance for variety, per request."""

from __future__ import annotations

import numpy as np

from pulserec.rerank.base import Reranker


def mmr(scores: np.ndarray, vectors: np.ndarray, k: int, diversity: float) -> np.ndarray:
    """Greedy MMR selection.

    At each step picks the candidate maximising
    ``(1 - diversity) * relevance - diversity * max_similarity_to_picked``,
    where relevance is the score rescaled to [0, 1] and similarity is the
    inner product of the (unit) ``vectors``. ``diversity=0`` is plain
    ranking by score; ``1`` picks the most dissimilar next item.

    Examples
    --------
    >>> v = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> mmr(np.array([1.0, 0.9, 0.5]), v, 2, 0.0).tolist()
    [0, 1]
    >>> mmr(np.array([1.0, 0.9, 0.5]), v, 2, 0.7).tolist()
    [0, 2]
    """
    if not 0.0 <= diversity <= 1.0:
        raise ValueError(f"diversity: expected a value in [0, 1], got {diversity}")
    n = len(scores)
    k = min(k, n)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    finite = np.isfinite(scores)
    if diversity == 0.0 or n == 1:
        order = np.argsort(-np.where(finite, scores, -np.inf), kind="stable")
        return order[:k].astype(np.int64)
    lo, hi = np.min(scores[finite]), np.max(scores[finite])
    rel = np.where(finite, (scores - lo) / (hi - lo) if hi > lo else 1.0, -np.inf)
    vecs = np.asarray(vectors, dtype=np.float32)
    max_sim = np.zeros(n, dtype=np.float64)
    picked = np.zeros(n, dtype=bool)
    out = []
    for step in range(k):
        gain = (1.0 - diversity) * rel - (diversity * max_sim if step else 0.0)
        gain = np.where(picked, -np.inf, gain)
        best = int(np.argmax(gain))
        if not np.isfinite(gain[best]):
            break
        out.append(best)
        picked[best] = True
        max_sim = np.maximum(max_sim, vecs @ vecs[best]) if step else vecs @ vecs[best]
    return np.asarray(out, dtype=np.int64)


class MMRReranker(Reranker):
    """:func:`mmr` with a fixed diversity."""

    def __init__(self, diversity: float = 0.0) -> None:
        self.diversity = diversity

    def rerank(self, scores: np.ndarray, vectors: np.ndarray, k: int) -> np.ndarray:
        return mmr(scores, vectors, k, self.diversity)
