"""Items that the sessions most like the user's latest one went on to (session-kNN).

The user's latest session (their positive items back from the newest while gaps stay
under ``engine.session_gap_s``) is compared with every user's recent sessions, learned
per event (:class:`~pulserec.engine.live.LiveSessions`); the items of the nearest ones
vote. Works from a user's first event and for items that arrived after the refit.
"""

from __future__ import annotations

import numpy as np

from pulserec.engine.live import LATEST_ITEMS
from pulserec.engine.sources.base import Request, top_of

Votes = tuple[np.ndarray, np.ndarray]


def session_votes(request: Request) -> Votes | None:
    """Session-kNN scores ``(items, scores)``, items sorted; a request signal (read it
    through ``request.signal(session_votes)``)."""
    state = request.state
    if state is None or not state.recent:
        return None
    sessions = request.live.sessions
    return sessions.votes(request.user_id, sessions.session_of(state.recent))


def latest_votes(request: Request) -> Votes | None:
    """Scores from the users whose latest items, whatever the gaps between them, are
    nearest to the user's (``(items, scores)``, items sorted); a request signal."""
    state = request.state
    if state is None or not state.recent:
        return None
    items = state.recent_items(LATEST_ITEMS)[::-1]
    return request.live.sessions.latest_votes(request.user_id, items)


class SessionSource:
    """The items with the highest session-kNN scores: ``n`` from the latest session and
    half as many from the latest items whatever their gaps."""

    name = "session"

    def candidates(self, request: Request, n: int) -> np.ndarray | None:
        return top_of(request, ((session_votes, n), (latest_votes, max(n // 2, 10))))
