"""Nearest items in the factor space to the user's blended long- and short-term vector."""

from __future__ import annotations

import numpy as np

from pulserec.engine.arrays import unit
from pulserec.engine.sources.base import Request


class AnnSource:
    """ANN over item factors, queried by the unit long-term plus short-term vector."""

    name = "ann"

    def candidates(self, request: Request, n: int) -> np.ndarray | None:
        models = request.models
        st, lt = request.short_cf, unit(request.long_term)
        if models is None or (st is None and lt is None):
            return None
        q = (st if st is not None else 0) + (lt if lt is not None else 0)
        return request.search(models.cf_index, np.asarray(q), n)
