"""Statistics of an experiment whose units are users, not impressions.

A user sees many lists and clicks in streaks, so impressions of one user are not
independent: a binomial test over pooled impressions understates the variance and calls
A/A tests significant far more often than 5%. CTR is a ratio of per-user sums,
``R = sum(clicks_u) / sum(impressions_u)``; its variance comes from the delta method
over users (the standard "ratio metric" treatment), and a bootstrap over users gives the
same interval without the normal approximation.

Examples
--------
>>> import numpy as np
>>> r = ratio_estimate(np.array([1.0, 0.0, 2.0]), np.array([2.0, 1.0, 3.0]))
>>> round(r.ctr, 3), round(r.se ** 2 * 48, 6)
(0.5, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

Z95 = float(norm.ppf(0.975))


@dataclass(frozen=True, slots=True)
class RatioEstimate:
    """CTR of one variant: clicks over impressions summed over users, and its standard
    error with users as the independent units."""

    users: int
    clicks: float
    impressions: float
    ctr: float
    se: float


@dataclass(frozen=True, slots=True)
class Comparison:
    """``treatment - control`` in CTR with a 95% interval and a two-sided p-value."""

    diff: float
    low: float
    high: float
    p_value: float
    relative: float


def ratio_estimate(clicks: np.ndarray, impressions: np.ndarray) -> RatioEstimate:
    """The ratio-of-sums CTR over users and its delta-method standard error.

    ``Var(R) ~ Var(c_u - R n_u) / (N mean(n)^2)`` with the sample variance over the
    ``N`` users (``ddof=1``). With one impression per user this is the binomial
    ``p (1 - p) / (N - 1)``.
    """
    c = np.asarray(clicks, dtype=np.float64)
    n = np.asarray(impressions, dtype=np.float64)
    users = len(n)
    total_n, total_c = float(n.sum()), float(c.sum())
    if users == 0 or total_n <= 0:
        return RatioEstimate(users, total_c, total_n, 0.0, float("nan"))
    ratio = total_c / total_n
    if users < 2:
        return RatioEstimate(users, total_c, total_n, ratio, float("nan"))
    resid = c - ratio * n
    var = float(resid.var(ddof=1)) / (users * float(n.mean()) ** 2)
    return RatioEstimate(users, total_c, total_n, ratio, var**0.5)


def compare(control: RatioEstimate, treatment: RatioEstimate) -> Comparison:
    """Difference of two independent groups' CTRs: normal 95% interval and p-value."""
    diff = treatment.ctr - control.ctr
    se = (control.se**2 + treatment.se**2) ** 0.5
    relative = diff / control.ctr if control.ctr > 0 else float("nan")
    if not np.isfinite(se):
        return Comparison(diff, float("nan"), float("nan"), float("nan"), relative)
    if se == 0:
        return Comparison(diff, diff, diff, 1.0 if diff == 0 else 0.0, relative)
    p = float(2 * norm.sf(abs(diff) / se))
    return Comparison(diff, diff - Z95 * se, diff + Z95 * se, p, relative)


def bootstrap_diff(
    control: tuple[np.ndarray, np.ndarray],
    treatment: tuple[np.ndarray, np.ndarray],
    *,
    n_boot: int = 2000,
    random_state: int = 0,
) -> Comparison:
    """The same comparison by resampling users (clicks, impressions) with replacement:
    percentile 95% interval, and twice the share of resampled differences past zero."""
    rng = np.random.default_rng(random_state)

    def ratios(c: np.ndarray, n: np.ndarray) -> np.ndarray:
        picks = rng.integers(0, len(n), size=(n_boot, len(n)))
        return c[picks].sum(axis=1) / np.maximum(n[picks].sum(axis=1), 1e-12)  # type: ignore[no-any-return]

    (ca, na), (cb, nb) = (np.asarray(x, np.float64) for x in control), (
        np.asarray(x, np.float64) for x in treatment
    )
    ra, rb = ca.sum() / na.sum(), cb.sum() / nb.sum()
    diffs = ratios(cb, nb) - ratios(ca, na)
    low, high = np.quantile(diffs, [0.025, 0.975])
    past = min(float((diffs <= 0).mean()), float((diffs >= 0).mean()))
    relative = float((rb - ra) / ra) if ra > 0 else float("nan")
    return Comparison(float(rb - ra), float(low), float(high), min(1.0, 2 * past), relative)


def users_for_power(
    ctr: float, relative_lift: float, *, impressions_per_user: float, design_effect: float = 1.0,
    alpha: float = 0.05, power: float = 0.8,
) -> int:  # fmt: skip
    """Users per variant for a two-sided test to detect ``relative_lift`` at ``ctr``.

    ``design_effect`` (>= 1) inflates the binomial variance for clustering by user; it is
    ``Var_delta / Var_binomial`` measured on earlier traffic.
    """
    if not 0 < ctr < 1 or relative_lift <= 0 or impressions_per_user <= 0:
        raise ValueError("users_for_power: need 0 < ctr < 1, lift > 0, impressions > 0")
    delta = ctr * relative_lift
    var_impression = ctr * (1 - ctr) * design_effect
    z = float(norm.ppf(1 - alpha / 2) + norm.ppf(power))
    n_impressions = 2 * var_impression * z**2 / delta**2
    return int(np.ceil(n_impressions / impressions_per_user))
