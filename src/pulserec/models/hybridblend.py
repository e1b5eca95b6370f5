"""The blend of :class:`~pulserec.models.hybrid.Hybrid`: its weights and the choice of bases.

Functions over held-out events, with no model in them: base scores standardised per user
(:func:`standardise`), the blend's logits (:func:`blend_logits`), the weights that maximise
the softmax likelihood of the held-out items (:func:`fit_blend_weights`), the NDCG@k of
one target item per row, plain and cross-validated (:func:`target_ndcg`,
:func:`cross_validated_ndcg`), the forward selection of the bases (:func:`select_bases`)
and the weights that match held-out rows to the users ranked by history length
(:func:`history_weights`). Why the blend is fitted this way is in
:mod:`pulserec.models.hybrid`, whose model runs these steps.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize


def standardise(scores: np.ndarray) -> np.ndarray:
    """Each row shifted to zero mean and scaled to unit deviation (constant rows to zero)."""
    x = np.asarray(scores, dtype=np.float64)
    mean = x.mean(axis=1, keepdims=True)
    std = x.std(axis=1, keepdims=True)
    return (x - mean) / np.where(std > 0, std, 1.0)


def fit_blend_weights(
    features: np.ndarray, targets: np.ndarray, l2: float, rows: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """Weights maximising the softmax likelihood of each row's target item (each row's
    log-likelihood weighted by ``rows``, when given: :func:`history_weights`).

    Parameters
    ----------
    features : ndarray (n_features, n_rows, n_items)
    targets : ndarray (n_rows,) of int
        The item index each row should rank first.
    l2 : float
        Penalty ``l2 / 2 * ||w||^2`` added to the mean negative log-likelihood.
    rows : ndarray (n_rows,), optional
        Each row's weight in that mean (all 1 by default).

    Returns
    -------
    weights : ndarray (n_features,)
    loss : float
        The penalised mean negative log-likelihood at the optimum.
    """
    n_features, n_rows, _ = features.shape
    target_features = features[:, np.arange(n_rows), targets].T.astype(np.float64)
    share = _row_shares(rows, n_rows)

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        # One feature at a time, accumulated in float64: casting the whole float32 tensor
        # to float64 on every step would copy it and double its memory.
        logits = blend_logits(w, features)
        top = logits.max(axis=1, keepdims=True)
        prob = np.exp(logits - top)
        norm = prob.sum(axis=1, keepdims=True)
        prob /= norm
        log_z = np.log(norm[:, 0]) + top[:, 0]
        nll = float(share @ (log_z - target_features @ w))
        expected = np.stack([np.einsum("rn,rn->r", f, prob) for f in features], axis=1)
        grad = share @ (expected - target_features)
        return nll + 0.5 * l2 * float(w @ w), grad + l2 * w

    result = scipy.optimize.minimize(objective, np.zeros(n_features), jac=True, method="L-BFGS-B")
    return np.asarray(result.x, dtype=np.float64), float(result.fun)


def _row_shares(rows: np.ndarray | None, n_rows: int) -> np.ndarray:
    """Each row's share of a weighted mean: ``rows`` normalised, or ``1 / n_rows`` each."""
    if rows is None:
        return np.full(n_rows, 1.0 / max(n_rows, 1))
    out: np.ndarray = rows / rows.sum()
    return out


HISTORY_BOUNDS: tuple[int, ...] = (3, 5, 10, 20)
"""Lower bounds of the history-length groups after the first (1-2, 3-4, 5-9, 10-19, 20+
events) that :func:`history_weights` matches."""


def history_weights(row_lengths: np.ndarray, user_lengths: np.ndarray) -> np.ndarray:
    """Weights of held-out rows that give each history-length group the share of the
    users the model will rank.

    ``row_lengths``: each held-out row's user's events before it (at least 2 where only
    users with three events or more hold one out); ``user_lengths``: the training events
    of each user the model ranks. A group's rows share that group's weight; users in a
    group without rows count in the nearest longer group that has some (users with one
    event in the shortest rows'). The weights average 1.

    Examples
    --------
    >>> history_weights(np.array([2, 2, 12, 12]), np.array([1, 2, 2, 12])).round(2).tolist()
    [1.5, 1.5, 0.5, 0.5]
    """
    rows_group = np.searchsorted(HISTORY_BOUNDS, row_lengths, side="right")
    users_group = np.searchsorted(HISTORY_BOUNDS, user_lengths, side="right")
    n_groups = len(HISTORY_BOUNDS) + 1
    rows_in = np.bincount(rows_group, minlength=n_groups).astype(np.float64)
    users_in = np.bincount(users_group, minlength=n_groups).astype(np.float64)
    held = np.flatnonzero(rows_in)
    if not len(held):
        return np.ones(len(row_lengths))
    # each group's users to the nearest group with rows, longer first, else shorter
    target = np.zeros(n_groups)
    for g in range(n_groups):
        longer = held[held >= g]
        target[longer[0] if len(longer) else held[-1]] += users_in[g]
    if target.sum() == 0:
        return np.ones(len(row_lengths))
    per_row = target / target.sum() / np.where(rows_in > 0, rows_in, 1.0)
    weights: np.ndarray = per_row[rows_group] * len(row_lengths)
    return weights


def blend_logits(weights: np.ndarray, features: np.ndarray) -> np.ndarray:
    """``sum_f weights[f] * features[f]`` in float64, shape ``(n_rows, n_items)``."""
    logits = np.zeros(features.shape[1:], dtype=np.float64)
    for weight, feature in zip(weights, features, strict=True):
        if weight:
            logits += float(weight) * feature
    return logits


def target_ndcg(logits: np.ndarray, targets: np.ndarray, k: int = 10) -> np.ndarray:
    """Per-row NDCG@k of the row's one target item under full ranking of ``logits``.

    Ties with the target count as half above it (the expected rank when ties are broken at
    random), so a constant row earns nothing from its ties.
    """
    n_rows = len(targets)
    target = logits[np.arange(n_rows), targets][:, None]
    above = (logits > target).sum(axis=1)
    ties = (logits == target).sum(axis=1) - 1
    rank = above + 0.5 * ties
    return np.where(rank < k, 1.0 / np.log2(rank + 2.0), 0.0)


def cross_validated_ndcg(
    features: np.ndarray,
    targets: np.ndarray,
    folds: np.ndarray,
    l2: float,
    k: int = 10,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """Per-row NDCG@k of each row scored by weights fitted on the other folds only.

    ``folds`` gives each row's fold number; the weights for fold ``f`` come from
    :func:`fit_blend_weights` on the rows of every other fold (weighted by ``rows``).
    """
    out = np.zeros(len(targets), dtype=np.float64)
    for fold in np.unique(folds):
        test = folds == fold
        weights, _ = fit_blend_weights(
            features[:, ~test], targets[~test], l2, None if rows is None else rows[~test]
        )
        out[test] = target_ndcg(blend_logits(weights, features[:, test]), targets[test], k)
    return out


def select_bases(
    features: np.ndarray,
    targets: np.ndarray,
    l2: float,
    *,
    n_folds: int = 3,
    min_gain_se: float = 1.0,
    random_state: int | None = 0,
    k: int = 10,
    rows: np.ndarray | None = None,
) -> tuple[list[int], list[float]]:
    """Forward selection of the bases whose blend ranks the held-out targets best.

    The last feature (``seen``) is always in the blend; the others are bases. Each step
    adds the base whose blend has the highest cross-validated NDCG@k
    (:func:`cross_validated_ndcg`); the first step takes the best base alone. A later base
    is added only if its blend beats the current one by more than ``min_gain_se`` standard
    errors of the per-row difference, so a base that only fits noise is left out and the
    blend never ranks the held-out events worse than its best base does. With ``rows``
    (:func:`history_weights`) every mean, standard error and fit weighs each row by it.

    Returns
    -------
    chosen : list of int
        Feature indices of the chosen bases, in the order they were added.
    cv_ndcg : list of float
        The cross-validated NDCG@k of the blend after each addition.
    """
    n_bases, n_rows = features.shape[0] - 1, features.shape[1]
    if n_folds < 2:
        raise ValueError(f"n_folds must be >= 2, got {n_folds!r}")
    rng = np.random.default_rng(random_state)
    folds = rng.permutation(np.arange(n_rows) % n_folds)
    share = _row_shares(rows, n_rows)
    seen = n_bases
    chosen: list[int] = []
    trace: list[float] = []
    current: np.ndarray | None = None
    while len(chosen) < n_bases:
        best: tuple[int, np.ndarray] | None = None
        for base in range(n_bases):
            if base in chosen:
                continue
            cols = [*chosen, base, seen]
            per_row = cross_validated_ndcg(features[cols], targets, folds, l2, k, rows)
            if best is None or share @ per_row > share @ best[1]:
                best = (base, per_row)
        assert best is not None  # at least one base is left to try
        base, per_row = best
        if current is not None:
            diff = per_row - current
            gain = float(share @ diff)
            # the weighted mean's standard error (the plain one's when every weight is 1)
            se = float(np.sqrt(share**2 @ (diff - gain) ** 2 * n_rows / (n_rows - 1)))
            if not gain > min_gain_se * se:
                break
        chosen.append(base)
        trace.append(float(share @ per_row))
        current = per_row
    return chosen, trace
