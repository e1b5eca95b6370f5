"""Re-ranking of a scored candidate list: diversity, exclusions, business rules."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class Reranker(ABC):
    """Reorders (and may drop) candidates; returns positions into the candidate arrays."""

    @abstractmethod
    def rerank(self, scores: np.ndarray, vectors: np.ndarray, k: int) -> np.ndarray:
        """Positions of the ``k`` candidates to show, in display order."""
