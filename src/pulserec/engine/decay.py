"""The clock of exponentially decayed values kept at an anchor time.

A value decaying at ``rate`` is stored as it stands at the anchor: a weight added at
``ts`` is stored grown by ``e^{rate (ts - anchor)}`` (:meth:`DecayClock.grow`), and a
stored value read at ``ts`` is multiplied by ``e^{-rate (ts - anchor)}``
(:meth:`DecayClock.decay`). Adding touches one value, never all of them. Once the growth
passes ``e^rebase_at`` the anchor moves to the new time and the owner multiplies what it
stores by the factor the clock hands back, so stored numbers stay bounded however long
the process runs. :class:`~pulserec.engine.trending.Trending` and
:class:`~pulserec.engine.live.LiveCovisit` keep their counts this way, each with its own
limit.
"""

from __future__ import annotations

import math

import numpy as np


class DecayClock:
    """Decay rate and anchor time of values that halve every ``half_life_s`` seconds.

    Parameters
    ----------
    half_life_s : float
        Seconds after which a value has decayed to half.
    rebase_at : float
        ``rate × (ts − anchor)`` past which a weight added at ``ts`` moves the anchor to
        ``ts`` first.
    anchor_ts : float or None
        The first anchor; None sets it at the time of the first weight.
    zero_past : float
        ``rate × (ts − anchor)`` from which the factor handed back on a move is 0 (what
        was stored counts as decayed to nothing) rather than ``e^{-rate (ts − anchor)}``.

    Examples
    --------
    >>> clock = DecayClock(half_life_s=10.0, rebase_at=16.0, anchor_ts=0.0)
    >>> clock.grow(10.0)  # a weight added one half-life after the anchor
    (2.0, None)
    >>> clock.decay(20.0)  # a stored value read two half-lives after the anchor
    0.25
    """

    def __init__(
        self,
        half_life_s: float,
        rebase_at: float,
        anchor_ts: float | None = None,
        zero_past: float = math.inf,
    ) -> None:
        self.rate = math.log(2.0) / half_life_s
        self.rebase_at = rebase_at
        self.zero_past = zero_past
        self.anchor_ts = 0.0 if anchor_ts is None else anchor_ts
        self.anchored = anchor_ts is not None
        """False until the anchor is set (by the constructor or the first weight)."""

    def rebase(self, ts: float) -> float | None:
        """Move the anchor to ``ts`` if the growth since it passes ``e^rebase_at``.

        Returns the factor by which the owner must multiply every stored value when the
        anchor moved (0 from ``zero_past`` on), None when it stayed.
        """
        if not self.anchored:
            self.anchor_ts, self.anchored = ts, True
            return None
        exponent = self.rate * (ts - self.anchor_ts)
        if exponent > self.rebase_at:
            self.anchor_ts = ts
            return math.exp(-exponent) if exponent < self.zero_past else 0.0
        return None

    def grow(self, ts: float) -> tuple[float, float | None]:
        """The factor a weight added at ``ts`` is stored grown by, the anchor moved first
        where it must be, and :meth:`rebase`'s factor for the values stored before."""
        shrink = self.rebase(ts)
        return math.exp(self.rate * (ts - self.anchor_ts)), shrink

    def grow_many(self, ts: np.ndarray) -> np.ndarray:
        """:meth:`grow`'s factor for weights added at each of ``ts``, the anchor left
        where it is (move it first with :meth:`rebase` at the latest of them)."""
        out: np.ndarray = np.exp(self.rate * (ts - self.anchor_ts))
        return out

    def decay(self, ts: float) -> float:
        """The factor from a stored value to its value at ``ts``."""
        return math.exp(-self.rate * (ts - self.anchor_ts))
