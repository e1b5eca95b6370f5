"""Items whose text is closest to what the user has been reading and searching for."""

from __future__ import annotations

import numpy as np

from pulserec.engine.sources.base import Request


class TextSource:
    """Text-index search by the short-term text vector; new items come in this way."""

    name = "text"

    def candidates(self, request: Request, n: int) -> np.ndarray | None:
        index, query = request.items.text_index, request.short_text
        if index is None or query is None:
            return None
        return request.search(index, query, n)
