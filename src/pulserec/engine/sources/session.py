"""Items that the sessions most like the user's latest one went on to (session-kNN).

The user's latest session (their positive items back from the newest while gaps stay
under ``engine.session_gap_s``) is compared with every user's recent sessions, learned
per event (:class:`~pulserec.engine.live.LiveSessions`); the items of the nearest ones
vote. Works from a user's first event and for items that arrived after the refit.
"""

from __future__ import annotations

import numpy as np

from pulserec.engine.arrays import top_indices
from pulserec.engine.sources.base import Request

Votes = tuple[np.ndarray, np.ndarray]


def session_votes(request: Request) -> Votes | None:
    """Session-kNN scores ``(items, scores)``, items sorted; a request signal (read it
    through ``request.signal(session_votes)``)."""
    state = request.state
    if state is None or not state.recent:
        return None
    sessions = request.live.sessions
    return sessions.votes(request.user_id, sessions.session_of(state.recent))


class SessionSource:
    """The items with the highest session-kNN scores."""

    name = "session"

    def candidates(self, request: Request, n: int) -> np.ndarray | None:
        votes = request.signal(session_votes)
        if votes is None:
            return None
        found: np.ndarray = votes[0][top_indices(votes[1], n)]
        return found
