"""The experiment statistics on known answers, and their calibration on clustered data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from pulserec.online.stats import (
    PERMUTATION_MAX_USERS,
    RatioEstimate,
    bootstrap_diff,
    compare,
    decision_p,
    permutation_p,
    ratio_estimate,
    users_for_power,
)


def test_delta_method_by_hand() -> None:
    # R = 3/6; residuals c - R n = [0, -0.5, 0.5], sample variance 0.25; mean n = 2
    r = ratio_estimate(np.array([1.0, 0.0, 2.0]), np.array([2.0, 1.0, 3.0]))
    assert r.ctr == 0.5 and r.users == 3
    assert r.se**2 == pytest.approx(0.25 / (3 * 2.0**2))


def test_one_impression_per_user_is_the_binomial() -> None:
    clicks = np.array([1.0] * 30 + [0.0] * 70)
    r = ratio_estimate(clicks, np.ones(100))
    assert r.ctr == pytest.approx(0.3)
    assert r.se**2 == pytest.approx(0.3 * 0.7 / 99)


def test_compare_gives_the_normal_p_value_and_interval() -> None:
    a = RatioEstimate(100, 10, 100, 0.10, 0.01)
    # a difference of 1.96 standard errors: p = 0.05, the interval touches zero
    b = RatioEstimate(100, 13, 100, 0.1277186, 0.01)
    c = compare(a, b)
    se = 0.02**0.5 * 0.1  # sqrt(0.01^2 + 0.01^2)
    assert c.diff == pytest.approx(0.0277186)
    assert c.p_value == pytest.approx(2 * norm.sf(0.0277186 / se))
    assert c.p_value == pytest.approx(0.05, abs=1e-4)
    assert c.low == pytest.approx(0.0, abs=1e-4) and c.high == pytest.approx(2 * c.diff, rel=1e-3)


def clustered(rng: np.random.Generator, users: int, ctr: float = 0.05) -> tuple[np.ndarray, ...]:
    """Users with their own CTR (Beta around ``ctr``) and 1..60 impressions each."""
    p = rng.beta(0.5, 0.5 * (1 - ctr) / ctr, size=users)
    n = rng.integers(1, 60, size=users).astype(float)
    return rng.binomial(n.astype(int), p).astype(float), n


def test_aa_tests_are_significant_about_five_percent_of_the_time() -> None:
    rng = np.random.default_rng(7)
    runs, delta_hits, naive_hits = 1000, 0, 0
    for _ in range(runs):
        ca, na = clustered(rng, 300)
        cb, nb = clustered(rng, 300)
        delta_hits += compare(ratio_estimate(ca, na), ratio_estimate(cb, nb)).p_value < 0.05
        # the binomial test over pooled impressions ignores that impressions cluster by user
        pa, pb = ca.sum() / na.sum(), cb.sum() / nb.sum()
        se = (pa * (1 - pa) / na.sum() + pb * (1 - pb) / nb.sum()) ** 0.5
        naive_hits += 2 * norm.sf(abs(pb - pa) / se) < 0.05
    assert 0.03 <= delta_hits / runs <= 0.075
    assert naive_hits / runs > 0.2  # why the users must be the units


def test_a_real_difference_is_found() -> None:
    rng = np.random.default_rng(3)
    ca, na = clustered(rng, 2000, 0.05)
    cb, nb = clustered(rng, 2000, 0.08)
    c = compare(ratio_estimate(ca, na), ratio_estimate(cb, nb))
    assert c.p_value < 0.001 and c.low > 0


def test_bootstrap_over_users_agrees_with_the_delta_method() -> None:
    rng = np.random.default_rng(11)
    ca, na = clustered(rng, 800)
    cb, nb = clustered(rng, 800, 0.06)
    d = compare(ratio_estimate(ca, na), ratio_estimate(cb, nb))
    b = bootstrap_diff((ca, na), (cb, nb), n_boot=3000, random_state=1)
    assert b.diff == pytest.approx(d.diff)
    assert (b.high - b.low) == pytest.approx(d.high - d.low, rel=0.15)


def test_users_for_power_matches_the_textbook_formula() -> None:
    # two proportions 0.10 vs 0.11, one impression per user: 2 * 0.09 * 7.849 / 0.01^2
    assert users_for_power(0.10, 0.10, impressions_per_user=1) == 14128
    assert users_for_power(0.10, 0.10, impressions_per_user=10, design_effect=2.0) == 2826


def test_permutation_p_is_exact_on_a_small_split() -> None:
    # control users (clicks, impressions) (1, 2), (0, 2); treatment (2, 2), (2, 2): the 6
    # ways to split the four users in two pairs give |differences| 1, 0.5, 0.5, 0.5, 0.5, 1:
    # two of six reach the observed 1 - 0.25 = 0.75 (the split itself and its mirror)
    control = (np.array([1.0, 0.0]), np.array([2.0, 2.0]))
    treatment = (np.array([2.0, 2.0]), np.array([2.0, 2.0]))
    assert permutation_p(control, treatment) == pytest.approx(2 / 6)
    # no difference at all: every split is at least as extreme
    same = (np.array([1.0, 1.0]), np.array([2.0, 2.0]))
    assert permutation_p(same, same) == 1.0


def test_permutation_p_is_reproducible_and_finds_a_real_difference() -> None:
    rng = np.random.default_rng(3)
    ca, na = clustered(rng, 400, 0.05)
    cb, nb = clustered(rng, 400, 0.08)
    p = permutation_p((ca, na), (cb, nb), n_perm=500)
    assert p == permutation_p((ca, na), (cb, nb), n_perm=500)
    assert p < 0.01  # (z-test: p < 0.001)
    assert compare(ratio_estimate(ca, na), ratio_estimate(cb, nb)).p_value < 0.001


def test_aa_permutation_tests_are_significant_five_percent_of_the_time() -> None:
    # few users, heavy-tailed clicks: the permutation test's size is the nominal one
    rng = np.random.default_rng(5)
    runs, hits = 400, 0
    for _ in range(runs):
        ca, na = clustered(rng, 60)
        cb, nb = clustered(rng, 60)
        seed = int(rng.integers(1 << 30))
        hits += permutation_p((ca, na), (cb, nb), n_perm=200, random_state=seed) < 0.05
    # 400 runs at 5%: 95% of runs land within 11-29 significant
    assert 0.025 <= hits / runs <= 0.075


def test_decision_p_permutes_small_experiments_and_uses_the_z_test_above_the_bound() -> None:
    rng = np.random.default_rng(9)
    ca, na = clustered(rng, 50)
    cb, nb = clustered(rng, 50)
    z = compare(ratio_estimate(ca, na), ratio_estimate(cb, nb)).p_value
    p, test = decision_p((ca, na), (cb, nb), z)
    assert test == "permutation" and p == permutation_p((ca, na), (cb, nb))
    big = clustered(rng, PERMUTATION_MAX_USERS // 2 + 1)
    assert decision_p(big, big, 0.3) == (0.3, "z")
