"""The decay clock: values kept at an anchor time, read decayed to any time."""

from __future__ import annotations

import numpy as np
import pytest

from pulserec.engine.decay import DecayClock


@pytest.mark.parametrize("half_life_s", [1.0, 600.0, 86400.0])
def test_a_weight_added_at_the_anchor_halves_every_half_life(half_life_s: float) -> None:
    clock = DecayClock(half_life_s, rebase_at=16.0, anchor_ts=1000.0)
    growth, shrink = clock.grow(1000.0)
    assert (growth, shrink) == (1.0, None)
    for dt in (0.0, 0.5 * half_life_s, half_life_s, 3.7 * half_life_s, 20 * half_life_s):
        expected = 2.0 ** (-dt / half_life_s)
        assert growth * clock.decay(1000.0 + dt) == pytest.approx(expected, rel=1e-13)
    # a weight added later is kept grown: read at its own time it is itself
    growth, _ = clock.grow(1000.0 + 2 * half_life_s)
    assert growth == pytest.approx(4.0, rel=1e-13)
    assert growth * clock.decay(1000.0 + 2 * half_life_s) == pytest.approx(1.0, rel=1e-13)


def test_a_move_of_the_anchor_keeps_every_value_read() -> None:
    """Weights added an event per half-life: once the growth passes e^rebase_at the anchor
    moves and the kept values, shrunk by the factor handed back, read as before."""
    half = 10.0
    clock = DecayClock(half, rebase_at=5.0)
    kept = np.zeros(3)
    times: list[list[float]] = [[], [], []]
    moves = 0
    for step in range(40):
        ts = 50.0 + step * half
        before = kept * clock.decay(ts)
        growth, shrink = clock.grow(ts)
        if shrink is not None:
            moves += 1
            assert clock.anchor_ts == ts and 0.0 < shrink < 1.0
            kept *= shrink
            np.testing.assert_allclose(kept * clock.decay(ts), before, rtol=1e-12)
        kept[step % 3] += growth
        times[step % 3].append(ts)
        expected = [sum(2.0 ** (-(ts - t) / half) for t in ts_j) for ts_j in times]
        np.testing.assert_allclose(kept * clock.decay(ts), expected, rtol=1e-12)
    assert moves >= 4  # 39 half-lives: an exponent of 27, past 5 a move every 7 or so


def test_the_first_weight_sets_an_unset_anchor() -> None:
    clock = DecayClock(100.0, rebase_at=50.0)
    assert not clock.anchored
    assert clock.grow(12_345.0) == (1.0, None)
    assert clock.anchored and clock.anchor_ts == 12_345.0


def test_a_gap_past_zero_past_hands_back_zero() -> None:
    clock = DecayClock(1.0, rebase_at=16.0, anchor_ts=0.0, zero_past=700.0)
    growth, shrink = clock.grow(5_000.0)  # 5,000 half-lives: exponent about 3,466
    assert (growth, shrink) == (1.0, 0.0) and clock.anchor_ts == 5_000.0
    # without it the factor is the true one, however small
    clock = DecayClock(1.0, rebase_at=16.0, anchor_ts=0.0)
    _, shrink = clock.grow(1_000.0)
    assert shrink == pytest.approx(2.0**-1_000.0, rel=1e-12)


def test_many_weights_grow_as_one_at_a_time() -> None:
    clock = DecayClock(60.0, rebase_at=16.0, anchor_ts=0.0)
    assert clock.rebase(100.0) is None  # well inside the limit: the anchor stays
    ts = np.array([0.0, 30.0, 60.0, 100.0])
    np.testing.assert_allclose(clock.grow_many(ts), [clock.grow(t)[0] for t in ts], rtol=1e-15)
    assert clock.anchor_ts == 0.0
