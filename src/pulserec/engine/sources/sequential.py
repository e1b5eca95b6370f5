"""What the sequential transformer expects next after the user's recent items."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pulserec.engine.sources.base import Request

if TYPE_CHECKING:
    from pulserec.engine.sequential import UserScores


def sequential_scores(request: Request) -> UserScores | None:
    """The transformer's standardised next-item scores for this user; None without one.

    A request signal: read it through ``request.signal(sequential_scores)``.
    """
    if request.state is None:
        return None
    return request.scorer.scores(request.models, request.state)


class SequentialSource:
    """The transformer's top next items."""

    name = "sequential"

    def candidates(self, request: Request, n: int) -> np.ndarray | None:
        scores = request.signal(sequential_scores)
        return None if scores is None else scores.top(n, request.search)
