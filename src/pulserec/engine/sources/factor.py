"""Nearest items in the factor space to the user's long-term vector alone."""

from __future__ import annotations

import numpy as np

from pulserec.engine.arrays import unit
from pulserec.engine.sources.base import Request


class FactorSource:
    """What the factor model fitted at the last refit says of the user."""

    name = "factor"

    def candidates(self, request: Request, n: int) -> np.ndarray | None:
        lt = unit(request.long_term)
        if request.models is None or lt is None:
            return None
        return request.search(request.models.cf_index, lt, n)
