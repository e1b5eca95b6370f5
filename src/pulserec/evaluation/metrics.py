"""Full-ranking metrics, vectorised over users.

Every function takes the top-K item indices of each user (``(n_users, K)``)
and, for accuracy, the held-out truth as a CSR matrix with one row per user.
Users without any held-out item are left out of the averages by the caller.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

ACCURACY_METRICS = ("recall", "ndcg", "mrr", "hit", "precision")


def hit_matrix(top: np.ndarray, truth: sp.csr_matrix) -> np.ndarray:
    """``hits[u, r]`` is True when the item at rank ``r`` of user ``u`` is held out for ``u``.

    Negative indices in ``top`` (padding) never hit.
    """
    top = np.asarray(top, dtype=np.int64)
    n, k = top.shape
    if n == 0 or k == 0:
        return np.zeros((n, k), dtype=bool)
    truth = sp.csr_matrix(truth)
    rows = np.repeat(np.arange(n), k)
    cols = top.ravel()
    valid = cols >= 0
    hits = np.zeros(n * k, dtype=bool)
    if valid.any():
        vals = np.asarray(truth[rows[valid], cols[valid]]).ravel()
        hits[valid] = vals != 0
    return hits.reshape(n, k)


def accuracy(top: np.ndarray, truth: sp.csr_matrix, k: int) -> dict[str, np.ndarray]:
    """Per-user Recall, NDCG, MRR, HitRate and Precision at ``k``.

    Recall divides by the number of held-out items; NDCG's ideal DCG places
    ``min(n_truth, k)`` hits first (the RecBole definitions).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> truth = sp.csr_matrix(np.array([[0, 1, 0, 1]]))
    >>> m = accuracy(np.array([[1, 0, 3]]), truth, k=3)
    >>> round(float(m["recall"][0]), 3), round(float(m["mrr"][0]), 3)
    (1.0, 1.0)
    """
    top = np.asarray(top)[:, :k]
    hits = hit_matrix(top, truth).astype(np.float64)
    n_truth = np.diff(sp.csr_matrix(truth).indptr).astype(np.float64)
    n_hits = hits.sum(axis=1)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = hits @ discounts[: hits.shape[1]]
    ideal_cum = np.r_[0.0, np.cumsum(discounts)]
    idcg = ideal_cum[np.minimum(n_truth, k).astype(np.int64)]
    first = np.where(hits.any(axis=1), hits.argmax(axis=1), -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(n_truth > 0, n_hits / n_truth, 0.0)
        ndcg = np.where(idcg > 0, dcg / idcg, 0.0)
    mrr = np.where(first >= 0, 1.0 / np.maximum(first + 1.0, 1.0), 0.0)
    return {
        "recall": recall,
        "ndcg": ndcg,
        "mrr": mrr,
        "hit": (n_hits > 0).astype(np.float64),
        "precision": n_hits / k,
    }


def coverage(top: np.ndarray, n_items: int) -> float:
    """Share of the catalog that appears in at least one list."""
    items = np.asarray(top).ravel()
    items = items[items >= 0]
    return float(len(np.unique(items)) / n_items) if n_items else 0.0


def exposure_gini(top: np.ndarray, n_items: int) -> float:
    """Gini coefficient of how often each catalog item is recommended (0 = equal, 1 = one item)."""
    items = np.asarray(top).ravel()
    counts = np.bincount(items[items >= 0], minlength=n_items).astype(np.float64)
    total = counts.sum()
    if total == 0 or n_items == 0:
        return 0.0
    x = np.sort(counts)
    ranks = np.arange(1, n_items + 1)
    return float(((2 * ranks - n_items - 1) * x).sum() / (n_items * total))


def novelty(top: np.ndarray, item_popularity: np.ndarray, n_users: int) -> float:
    """Mean self-information ``-log2(p_i)`` of recommended items, ``p_i`` = share of users.

    Items no training user touched count as seen by one user.
    """
    items = np.asarray(top).ravel()
    items = items[items >= 0]
    if len(items) == 0 or n_users == 0:
        return 0.0
    pop = np.maximum(np.asarray(item_popularity, dtype=np.float64)[items], 1.0)
    return float(np.mean(-np.log2(pop / n_users)))


def intra_list_diversity(top: np.ndarray, item_features: np.ndarray | sp.spmatrix) -> float:
    """Mean pairwise cosine distance between the items of each list.

    ``item_features`` is ``(n_items, d)``, e.g. a one-hot of genres. Items
    with an all-zero vector count as dissimilar to everything.
    """
    top = np.asarray(top, dtype=np.int64)
    n, k = top.shape
    if n == 0 or k < 2:
        return 0.0
    feats = item_features.toarray() if sp.issparse(item_features) else np.asarray(item_features)
    feats = feats.astype(np.float64)
    norms = np.linalg.norm(feats, axis=1, keepdims=True)
    unit = np.divide(feats, norms, out=np.zeros_like(feats), where=norms > 0)
    rows = []
    for start in range(0, n, 4096):  # bounded memory: (batch, k, d)
        block = top[start : start + 4096]
        valid = block >= 0
        g = unit[np.where(valid, block, 0)] * valid[..., None]
        sims = np.einsum("nkd,nld->nkl", g, g)
        m = valid.sum(axis=1).astype(np.float64)
        pairs = m * (m - 1)
        off_diag = sims.sum(axis=(1, 2)) - np.einsum("nkk->n", sims)
        with np.errstate(divide="ignore", invalid="ignore"):
            rows.append(np.where(pairs > 0, (pairs - off_diag) / pairs, 0.0))
    return float(np.mean(np.concatenate(rows)))
