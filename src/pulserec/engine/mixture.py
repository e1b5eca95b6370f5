"""The two-expert blend: the crowd's ranking and the user's own, mixed.

The linear blend (:mod:`pulserec.engine.blend`) is log-linear: it can only multiply what
the crowd's signals and the user's own say of an item. Where a hot set of the moment
takes a third of the events and the user's latest items point to the rest, it cannot say
"a third of the time the user takes what everyone takes, otherwise something near their
own items": an item with a little personal signal outranks a hot one. The mixture says
it directly,

    p(item) = π p_crowd(item) + (1 - π) p_own(item),

each a softmax over the request's candidates: the crowd's expert over the crowd's
features alone (:data:`CROWD_FEATURES`), the own expert over every feature, ``π`` the
crowd's share, all fitted together on the held-out choices by maximum likelihood. A
refit serves it only where it ranks the held-out window better than the per-segment
linear blend would (:func:`choose_mixture`, cross-fitted); elsewhere the linear blend
stays. ``benchmarks/blend_mixture.py`` measures the same comparison per dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.special import expit

from pulserec.engine.blend import (
    MIN_TERM_LISTS,
    QUALITY_K,
    fit_blend,
    fit_segment_weights,
    paired_gain,
    unsupported,
)
from pulserec.engine.features import BLEND_NAMES
from pulserec.ranking import ChoiceData, chosen_ranks, mixture_ranks, recall_ndcg

CROWD_FEATURES = (
    "trending",
    "trending_fast",
    "trending_now",
    "popular",
    "fresh_trending",
    "live_ctr",
    "recency",
)
"""What the crowd's expert reads: how much everyone takes an item lately, at each time
scale, over the year, in its first hour, its click-through rate, and how newly it was
published."""

MIN_CROWD_SHARE = 0.01
"""A fitted crowd's share below which the linear blend is served: a mixture that hardly
mixes ranks as its own expert does."""

L2 = 1e-2
"""The penalty on both experts' weights (on standardised columns, as the linear fit's)."""


@dataclass(frozen=True)
class Mixture:
    """A fitted two-expert blend; weights laid out as the blend's (:data:`BLEND_NAMES`)."""

    own: np.ndarray
    crowd: np.ndarray
    """Zero outside :func:`crowd_columns`."""
    share: float
    """``π``, the crowd's share."""


def crowd_columns() -> np.ndarray:
    """Which of the blend's columns the crowd's expert reads (every term of each feature
    of :data:`CROWD_FEATURES`)."""
    return np.array([name.split(":")[0] in CROWD_FEATURES for name in BLEND_NAMES])


def segment_ranks(data: ChoiceData, weights: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    """0-based rank of each chosen candidate by its segment's row of ``rows`` (everyone's
    ``weights`` where there are no rows or a list has no segment)."""
    if rows is None or len(data.segment) != len(data):
        return chosen_ranks(data, weights)
    segment = np.asarray(data.segment)
    ranks = np.empty(len(data), dtype=np.int64)
    for j in np.unique(segment).tolist():
        here = segment == j
        ranks[here] = chosen_ranks(data.subset(here.tolist()), rows[j])
    return ranks


def fit_mixture(
    data: ChoiceData,
    weights: np.ndarray,
    held: np.ndarray | None = None,
    l2: float = L2,
    *,
    start: Mixture | None = None,
    columns: np.ndarray | None = None,
) -> Mixture:
    """Both experts' weights and the crowd's share by maximum likelihood of the chosen
    candidates, started from ``start`` or else from the linear blend's ``weights`` (both
    experts, the crowd's on its columns) and a share of 0.3. ``held`` (one bool per
    column) marks the terms not fitted: the own expert keeps ``weights`` there, the
    crowd's expert leaves them out. ``columns`` (one bool per column): what the crowd's
    expert reads, :func:`crowd_columns` unless given."""
    lengths = np.array([len(f) for f in data.features])
    starts = np.r_[0, np.cumsum(lengths)]
    offsets = starts[:-1]
    owner = np.repeat(np.arange(len(lengths)), lengths)
    chosen = offsets + np.asarray(data.chosen)
    rows = np.arange(starts[-1])
    keep = np.zeros(len(BLEND_NAMES), bool) if held is None else np.asarray(held, dtype=bool)
    base = np.asarray(weights, dtype=np.float64)
    xs = np.concatenate(data.features).astype(np.float64)  # one copy, scaled in place
    on_crowd = (crowd_columns() if columns is None else np.asarray(columns, bool)) & ~keep
    xc = xs[:, on_crowd]
    crowd_scale = np.maximum(xc.std(axis=0), 1e-6)
    xc /= crowd_scale
    fixed = xs[:, keep] @ base[keep] if keep.any() else np.zeros(len(xs))
    xs[:, keep] = 0.0
    scale = np.maximum(xs.std(axis=0), 1e-6)
    xs /= scale
    nc = xc.shape[1]
    xc_chosen, xs_chosen = xc[chosen], xs[chosen]
    # each list's candidates' probabilities as a lists × candidates matrix (so the expected
    # features need no dense temporary), its values replaced at each evaluation
    probs = sp.csr_matrix((np.ones(len(xs)), rows, starts), shape=(len(lengths), len(xs)))

    def expert(s: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Log-probability of each chosen candidate, and each list's expected ``x``."""
        top = np.maximum.reduceat(s, offsets)
        e = np.exp(s - top[owner])
        z = np.add.reduceat(e, offsets)
        probs.data = e / z[owner]
        return s[chosen] - np.log(z) - top, probs @ x

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        wc, wo, pi = theta[:nc], theta[nc:-1], expit(theta[-1])
        a, expect_c = expert(xc @ wc, xc)
        b, expect_o = expert(xs @ wo + fixed, xs)
        mix = np.logaddexp(np.log(pi) + a, np.log1p(-pi) + b)
        r = np.exp(np.log(pi) + a - mix)  # the crowd's part of each choice
        grad_c = -(r[:, None] * (xc_chosen - expect_c)).mean(axis=0) + 2 * l2 * wc
        grad_o = -((1 - r)[:, None] * (xs_chosen - expect_o)).mean(axis=0) + 2 * l2 * wo
        grad_pi = -np.mean((np.exp(a - mix) - np.exp(b - mix)) * pi * (1 - pi))
        value = -float(mix.mean()) + l2 * float(wc @ wc + wo @ wo)
        return value, np.r_[grad_c, grad_o, grad_pi]

    first = start if start is not None else Mixture(base, base, 0.3)
    theta0 = np.r_[
        first.crowd[on_crowd] * crowd_scale,
        np.where(keep, 0.0, first.own * scale),
        np.log(first.share / (1.0 - first.share)),
    ]
    theta = minimize(loss, theta0, jac=True, method="L-BFGS-B").x
    own = theta[nc:-1] / scale
    own[keep] = base[keep]
    crowd = np.zeros(len(BLEND_NAMES))
    crowd[on_crowd] = theta[:nc] / crowd_scale
    return Mixture(own, crowd, float(expit(theta[-1])))


def choose_mixture(
    choices: ChoiceData,
    weights: np.ndarray,
    metrics: dict[str, float],
    *,
    first: ChoiceData | None = None,
    random_state: int = 0,
) -> Mixture | None:
    """The mixture fitted on the held-out ``choices``, where it ranks them better than the
    linear blend the refit serves otherwise (everyone's ``weights`` and the per-segment
    rows, ``first`` as :func:`~pulserec.engine.blend.fit_segment_weights` takes it);
    None elsewhere.

    Both are cross-fitted over two halves (each half ranked by what the other half
    fitted), and the mixture is kept only where its NDCG@10 is higher by more than one
    standard error of the paired difference and the crowd's share reaches
    :data:`MIN_CROWD_SHARE`; it needs :data:`~pulserec.engine.blend.MIN_TERM_LISTS`
    choices. Metrics: ``mixture_gain`` and ``mixture_se`` (NDCG@10), the mixture's
    cross-fitted ``mixture_recall@10`` and ``mixture_ndcg@10``, ``crowd_share``,
    ``mixture_kept``.
    """
    metrics["mixture_kept"] = 0.0
    n = len(choices)
    if n < MIN_TERM_LISTS:
        return None
    folds = np.random.default_rng(random_state).permutation(n) % 2
    linear = np.empty(n, dtype=np.int64)
    mixture = np.empty(n, dtype=np.int64)
    halves = []
    for fold in (0, 1):
        rest, here = (choices.subset(cond.tolist()) for cond in (folds != fold, folds == fold))
        w, _ = fit_blend(rest)
        rows = fit_segment_weights(rest, w, {}, first=first)
        linear[folds == fold] = segment_ranks(here, w, rows)
        fitted = fit_mixture(rest, w, unsupported(rest))
        mixture[folds == fold] = mixture_ranks(here, fitted.own, fitted.crowd, fitted.share)
        halves.append(fitted)
    events = list(range(n))
    gain, se = paired_gain(mixture, events, linear, events, n + choices.missed)
    metrics["mixture_gain"], metrics["mixture_se"] = gain, se
    recall, ndcg = recall_ndcg(mixture, choices.missed, QUALITY_K)
    metrics["mixture_recall@10"], metrics["mixture_ndcg@10"] = recall, ndcg
    if gain <= se:
        return None
    # started from the halves' mean: a few steps from the whole window's optimum
    mean = Mixture(
        (halves[0].own + halves[1].own) / 2,
        (halves[0].crowd + halves[1].crowd) / 2,
        (halves[0].share + halves[1].share) / 2,
    )
    fitted = fit_mixture(choices, weights, unsupported(choices), start=mean)
    metrics["crowd_share"] = fitted.share
    if fitted.share < MIN_CROWD_SHARE:
        return None
    metrics["mixture_kept"] = 1.0
    return fitted
