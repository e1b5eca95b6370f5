"""What the sequential transformer expects next after the user's recent items."""

from __future__ import annotations

import numpy as np

from pulserec.engine.sources.base import Request


def sequential_scores(request: Request) -> np.ndarray | None:
    """The transformer's standardised next-item scores over the catalog; None without one.

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
        return None if scores is None else request.top(scores, n)
