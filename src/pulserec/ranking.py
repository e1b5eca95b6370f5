"""The hybrid ranking score's weights: a conditional-logit fit on held-out choices.

Each candidate item gets a small vector of named features (the engine's are in
:mod:`pulserec.engine.features`). The score is a weighted sum whose weights are fitted
on held-out events: among the candidates shown for an event, the item the
user actually chose should have the highest score (a softmax over each
candidate list, i.e. a conditional logit), never hand-set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize


@dataclass
class ChoiceData:
    """Candidate lists with the index of the chosen candidate in each."""

    features: list[np.ndarray]  # each (n_candidates, n_features)
    chosen: list[int]
    segment: list[int] = field(default_factory=list)
    """Per list, the user's history segment before it (when recorded; see
    :mod:`pulserec.engine.segments`)."""
    missed: int = 0
    """Held-out choices with no list: the chosen item was not among the candidates."""
    events: list[int] = field(default_factory=list)
    """Per list, which held-out event it came from (when recorded): two sets of lists
    collected from the same events pair up by it."""

    def subset(self, keep: list[bool]) -> ChoiceData:
        """The lists where ``keep`` is true."""
        pick = [j for j, k in enumerate(keep) if k]
        segment = [self.segment[j] for j in pick] if self.segment else []
        return ChoiceData(
            [self.features[j] for j in pick], [self.chosen[j] for j in pick], segment
        )

    def __len__(self) -> int:
        return len(self.chosen)


def fit_weights(
    data: ChoiceData,
    defaults: np.ndarray,
    l2: float = 1e-2,
    prior: np.ndarray | None = None,
    held: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, float]]:
    """Weights maximising the mean log-probability of the chosen candidates.

    Returns the weights (``defaults`` when there is no list to learn from) and fit
    diagnostics (log-likelihood per list before and after, and the share of lists where
    the chosen item ranks first). The L2 penalty pulls towards ``prior`` (weights fitted
    on a larger set, say) instead of towards zero when it is given; a feature that is
    constant in ``data`` then keeps its prior weight. ``held`` (one bool per column)
    marks weights that are not fitted: they keep the prior's value (``defaults``'
    without a prior) and the others are fitted around them.
    """
    if len(data) == 0:
        return np.array(defaults, dtype=np.float64), {"lists": 0.0}
    lengths = np.array([len(f) for f in data.features])
    xs = np.concatenate(data.features).astype(np.float64, copy=False)
    base = np.asarray(defaults if prior is None else prior, dtype=np.float64)
    keep = np.zeros(xs.shape[1], dtype=bool) if held is None else np.asarray(held, dtype=bool)
    # the held weights' part of every score, fixed; their columns then say nothing
    fixed = xs[:, keep] @ base[keep] if keep.any() else np.zeros(len(xs))
    xs[:, keep] = 0.0
    scale = np.maximum(xs.std(axis=0), 1e-6)  # optimise on a comparable scale
    xs /= scale  # in place: at most one copy of the candidates' features (4,000 lists of
    # a few hundred candidates and 42 columns: about 300 MB)
    starts = np.r_[0, np.cumsum(lengths)]
    offsets = starts[:-1]
    chosen_rows = offsets + np.asarray(data.chosen)
    segment = np.repeat(np.arange(len(lengths)), lengths)
    rows = np.arange(len(xs))

    centre = np.zeros(xs.shape[1]) if prior is None else np.asarray(prior) * scale
    centre[keep] = 0.0

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        s = xs @ w + fixed
        seg_max = np.maximum.reduceat(s, offsets)
        e = np.exp(s - seg_max[segment])
        z = np.add.reduceat(e, offsets)
        logz = np.log(z) + seg_max
        nll = -(s[chosen_rows] - logz).mean() + l2 * (w - centre) @ (w - centre)
        # each list's expected features under the model: a sparse (lists x rows) matrix of
        # the candidates' probabilities times the features, no dense temporary
        p = sp.csr_matrix((e / z[segment], rows, starts), shape=(len(lengths), len(xs)))
        expected = p @ xs
        grad = -(xs[chosen_rows] - expected).mean(axis=0) + 2 * l2 * (w - centre)
        return float(nll), grad

    w0 = centre.copy()
    before = loss(np.zeros(xs.shape[1]))[0]
    res = minimize(loss, w0, jac=True, method="L-BFGS-B")
    w = res.x / scale
    w[keep] = base[keep]
    s = xs @ res.x + fixed  # the features times w
    first = np.mean(s[chosen_rows] >= np.maximum.reduceat(s, offsets))
    return w, {
        "lists": float(len(data)),
        "nll_before": before,
        "nll_after": float(res.fun),
        "top1": float(first),
    }


def weights_for(saved: list[str], weights: np.ndarray, features: tuple[str, ...]) -> np.ndarray:
    """Weights saved for the features ``saved`` laid out in the order of ``features``.

    A feature the saved weights lack gets weight 0, one they have that is no longer
    used is dropped, so models saved before a feature existed load and rank as before.
    """
    if len(saved) != len(weights):
        raise ValueError(f"weights: {len(weights)} values for {len(saved)} features {saved}")
    out = np.zeros(len(features))
    for name, value in zip(saved, np.asarray(weights, dtype=np.float64), strict=True):
        if name in features:
            out[features.index(name)] = value
    return out


def chosen_ranks(data: ChoiceData, weights: np.ndarray) -> np.ndarray:
    """0-based rank of the chosen candidate in each list, scored by ``features @ weights``.

    Ties count against the chosen item (it ranks after every candidate scoring the same),
    so weights that score everything alike rank it last, not first.
    """
    w = np.asarray(weights, dtype=np.float64)
    return ranks_by(data, lambda f: f @ w)


def ranks_by(data: ChoiceData, score: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """0-based rank of the chosen candidate in each list by ``score`` of the list's
    features (float64), ties counting against it (see :func:`chosen_ranks`)."""
    ranks = np.empty(len(data), dtype=np.int64)
    for j, (features, chosen) in enumerate(zip(data.features, data.chosen, strict=True)):
        scores = score(np.asarray(features, dtype=np.float64))
        ranks[j] = int((scores >= scores[chosen]).sum()) - 1
    return ranks


def log_softmax(s: np.ndarray) -> np.ndarray:
    """``s`` less the log of the sum of its exponentials (a softmax's logarithm)."""
    top = s.max()
    return s - (top + np.log(np.exp(s - top).sum()))  # type: ignore[no-any-return]


def mixed(own: np.ndarray, crowd: np.ndarray, share: float) -> np.ndarray:
    """A two-expert mixture's log-probability of each candidate, from the experts' scores
    of the same candidates (each a softmax over them) and the second one's ``share``:
    ``log(share p_crowd + (1 - share) p_own)``.

    Examples
    --------
    >>> np.round(np.exp(mixed(np.array([0.0, 0.0]), np.array([0.0, 50.0]), 0.5)), 3)
    array([0.25, 0.75])
    """
    if not len(own):
        return own
    return np.logaddexp(np.log(share) + log_softmax(crowd), np.log1p(-share) + log_softmax(own))  # type: ignore[no-any-return]


def crowd_part(crowd: np.ndarray, share: float, mix: np.ndarray) -> np.ndarray:
    """Of each candidate's probability under the mixture (``mix``, :func:`mixed`), the part
    the second expert (the crowd's, scores ``crowd``) gives it: ``share p_crowd / p``.

    Examples
    --------
    >>> own, crowd = np.array([0.0, 0.0]), np.array([0.0, 50.0])
    >>> np.round(crowd_part(crowd, 0.5, mixed(own, crowd, 0.5)), 3)
    array([0.   , 0.667])
    """
    if not len(crowd):
        return crowd
    return np.exp(np.log(share) + log_softmax(crowd) - mix)  # type: ignore[no-any-return]


def mixture_ranks(data: ChoiceData, own: np.ndarray, crowd: np.ndarray, share: float) -> np.ndarray:
    """0-based rank of the chosen candidate in each list by :func:`mixed` of the two
    experts' weights (ties count against it, as in :func:`chosen_ranks`)."""
    return ranks_by(data, lambda f: mixed(f @ own, f @ crowd, share))


def recall_ndcg(ranks: np.ndarray, missed: int = 0, k: int = 10) -> tuple[float, float]:
    """Recall@k and NDCG@k of one chosen item per list, from its rank in each list.

    ``missed`` choices (the item was not among the candidates) count as misses. With one
    relevant item per choice, Recall@k is the share ranked in the top ``k`` and NDCG@k the
    mean of ``1 / log2(rank + 2)`` over those.

    Examples
    --------
    >>> recall_ndcg(np.array([0, 1, 12]), missed=1, k=10)
    (0.5, 0.4077324383928644)
    """
    n = len(ranks) + missed
    if n == 0:
        return 0.0, 0.0
    hit = ranks < k
    gain = 1.0 / np.log2(ranks[hit].astype(np.float64) + 2.0)
    return float(hit.sum() / n), float(gain.sum() / n)


def cross_fitted_ranks(
    data: ChoiceData,
    defaults: np.ndarray,
    n_folds: int = 2,
    random_state: int = 0,
    fit: Callable[[ChoiceData], tuple[np.ndarray, dict[str, float]]] | None = None,
) -> np.ndarray:
    """The chosen candidates' ranks under weights fitted on the other folds of ``data``
    (by ``fit``, :func:`fit_weights` from ``defaults`` if not given).

    The weights a refit serves are fitted on these same choices, so scoring them there
    would flatter them; each list is ranked instead by weights that never saw it.
    """
    folds = np.random.default_rng(random_state).permutation(len(data)) % n_folds
    ranks = np.empty(len(data), dtype=np.int64)
    for fold in range(n_folds):
        rest = data.subset((folds != fold).tolist())
        here = data.subset((folds == fold).tolist())
        weights, _ = fit_weights(rest, defaults) if fit is None else fit(rest)
        ranks[folds == fold] = chosen_ranks(here, weights)
    return ranks
