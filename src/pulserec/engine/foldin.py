"""Factor vectors for items the models were not fitted on, folded in per event.

An item without a training event (it arrived after the refit, or nobody had taken it)
has no factor vector, so the factor features and the user's short-term vector ignore it
until the next refit. Here each positive event on such an item by a user the models know
adds that user's factor vector to the item's implicit-ALS normal equations, and the item
gets the vector that one more ALS half-step would give it:
``v = (UᵀU + α Σ u uᵀ + λ I)⁻¹ (1 + α) Σ u``, with ``UᵀU`` over every user of the
models. One event makes a vector; each later one sharpens it. Bounded: at most
``max_items`` items are folded (the least recently touched leaves).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from pulserec.engine.modelset import ModelSet


class ItemFoldIn:
    """Per-item accumulators against one set of models (reset when the models change)."""

    def __init__(self, alpha: float, regularization: float, max_items: int = 20_000) -> None:
        self.alpha = alpha
        self.regularization = regularization
        self.max_items = max_items
        self._models: ModelSet | None = None
        self._gram = np.zeros((0, 0))
        self._acc: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._solved: dict[int, np.ndarray] = {}
        self._has = np.zeros(0, dtype=bool)  # which item indices have an accumulator

    def _against(self, models: ModelSet) -> None:
        if models is not self._models:
            self._models = models
            u = models.user_factors.astype(np.float64)
            self._gram = u.T @ u + self.regularization * np.eye(u.shape[1])
            self._acc.clear()
            self._solved.clear()
            self._has[:] = False

    def fresh(self, models: ModelSet, item: int) -> bool:
        """Whether ``item`` has no fitted vector in ``models``."""
        return item >= models.n_items or bool(models.popularity[item] == 0)

    def add(self, models: ModelSet, item: int, user_id: str) -> bool:
        """Fold one positive event of ``user_id`` on a fresh ``item``; False when there is
        nothing to fold (the item has a fitted vector, or the user none)."""
        if not self.fresh(models, item):
            return False
        u = models.long_term(user_id)
        if u is None:
            return False
        self._against(models)
        u = u.astype(np.float64)
        held = self._acc.get(item)
        a, b = held if held is not None else (np.zeros_like(self._gram), np.zeros(len(u)))
        self._acc[item] = (a + self.alpha * np.outer(u, u), b + (1.0 + self.alpha) * u)
        self._acc.move_to_end(item)
        if item >= len(self._has):
            grow = max(item + 1, 2 * len(self._has)) - len(self._has)
            self._has = np.r_[self._has, np.zeros(grow, dtype=bool)]
        self._has[item] = True
        if len(self._acc) > self.max_items:
            gone, _ = self._acc.popitem(last=False)
            self._solved.pop(gone, None)
            self._has[gone] = False
        self._solved.pop(item, None)
        return True

    def vectors(self, models: ModelSet, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(mask, vectors)``: which of ``items`` have a folded vector, and those vectors."""
        if models is not self._models or not self._acc:
            return np.zeros(len(items), dtype=bool), np.zeros((0, models.dim))
        mask = np.zeros(len(items), dtype=bool)
        inside = items < len(self._has)
        mask[inside] = self._has[items[inside]]
        out = [self.vector(int(i)) for i in items[mask]]
        return mask, np.asarray(out).reshape(len(out), models.dim)

    def vector(self, item: int) -> np.ndarray:
        """The folded vector of an item that has one."""
        v = self._solved.get(item)
        if v is None:
            a, b = self._acc[item]
            v = self._solved[item] = np.linalg.solve(self._gram + a, b)
        return v
