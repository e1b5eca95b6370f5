"""History segments: the ranking weights depend on how much the engine knows of a user.

A user without a positive event can only be ranked by what the crowd does; after one or
two the latest items say most; with a long history the factor model and the transformer
speak too. The blend's weights are fitted per segment on the held-out choices of that
segment's users, pulled towards everyone's (so a thin segment stays near them), and the
request picks its row by the user's count of positive items.
"""

from __future__ import annotations

from bisect import bisect_right

from pulserec.state.base import UserState

BOUNDS: tuple[int, ...] = (1, 3, 10)
"""Lower bounds of the segments after the first: 0, 1-2, 3-9 and 10+ positive items."""

NAMES: tuple[str, ...] = ("0", "1-2", "3-9", "10+")
"""Each segment's name, as the metrics and the docs write it."""


def history_length(state: UserState | None, cap: int = BOUNDS[-1]) -> int:
    """The user's positive items in their state, counted up to ``cap``."""
    return 0 if state is None else len(state.recent_items(cap))


def segment_of(state: UserState | None) -> int:
    """The index in :data:`NAMES` of the user's history segment."""
    return segment_at(history_length(state))


def segment_at(count: int) -> int:
    """The index in :data:`NAMES` of the segment of a user with ``count`` positive items."""
    return bisect_right(BOUNDS, count)
