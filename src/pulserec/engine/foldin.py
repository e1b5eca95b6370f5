"""Factor vectors for items the models were not fitted on, folded in per event.

An item without a training event (it arrived after the refit, or nobody had taken it)
has no factor vector, so the factor features and the user's short-term vector ignore it
until the next refit. Here each positive event on such an item by a user the models know
adds that user's factor vector to the item's implicit-ALS normal equations, and the item
gets the vector that one more ALS half-step would give it:
``v = (UᵀU + α Σ u uᵀ + λ I)⁻¹ (1 + α) Σ u``, with ``UᵀU`` over every user of the
models. One event makes a vector; each later one sharpens it. Bounded: at most
``max_items`` items are folded (the least recently touched leaves).

Where the models have a text map (:func:`fit_text_map`), an item's text gives its vector
before any event: the prior ``p``, the factor vector items that read alike were fitted
with. Events then move it from there, as pseudo-observations of the prior with the weight
of every user's zero: ``v = (G + α Σ u uᵀ)⁻¹ ((1 + α) Σ u + G p)`` with ``G = UᵀU + λ I``,
which is ``p`` before the first event and the plain fold-in as events pile up.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from pulserec.engine.modelset import ModelSet

TextRows = tuple[np.ndarray, np.ndarray]
"""The catalog's text vectors and, per item, whether it has text."""

MIN_MAP_ITEMS = 50
"""Items with text and a fitted vector below which no text map is fitted."""

MIN_MAP_COSINE = 0.1
"""Mean cosine of predicted and fitted vectors of held-out items below which the text
says too little of the factors to be a prior (unrelated text scores about 0)."""


def fit_text_map(
    text: np.ndarray, factors: np.ndarray, random_state: int | None = 0
) -> np.ndarray | None:
    """A ridge map from text vectors to factor vectors (rows of the same items), its
    penalty chosen on a tenth of the items held out (mean cosine of predicted and fitted
    vectors); None with fewer than :data:`MIN_MAP_ITEMS` items or when no penalty
    reaches :data:`MIN_MAP_COSINE`."""
    n = len(text)
    if n < MIN_MAP_ITEMS:
        return None
    x, y = text.astype(np.float64), factors.astype(np.float64)
    rng = np.random.default_rng(random_state)
    held = np.zeros(n, dtype=bool)
    held[rng.choice(n, max(5, n // 10), replace=False)] = True
    best, best_score = None, MIN_MAP_COSINE
    for penalty in (0.1, 1.0, 10.0, 100.0):
        w = _ridge(x[~held], y[~held], penalty)
        score = _mean_cosine(x[held] @ w, y[held])
        if score > best_score:
            best, best_score = penalty, score
    if best is None:
        return None
    return _ridge(x, y, best).astype(np.float32)


def text_priors(
    models: ModelSet, items: np.ndarray, text: TextRows | None
) -> tuple[np.ndarray, np.ndarray]:
    """Which of ``items`` take their factor vector's prior from their text (no training
    event, text, and a text map in ``models``), and those priors, one row per such item."""
    prior = np.zeros(len(items), dtype=bool)
    if text is None or models.text_map is None:
        return prior, np.zeros((0, models.dim))
    has = text[1]
    inside = items < len(has)
    prior[inside] = has[items[inside]]
    prior &= models.fresh(items)
    return prior, text[0][items[prior]] @ models.text_map


def _ridge(x: np.ndarray, y: np.ndarray, penalty: float) -> np.ndarray:
    gram = x.T @ x + penalty * np.eye(x.shape[1])
    return np.linalg.solve(gram, x.T @ y)


def _mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    ok = norms > 0
    return float(((a * b).sum(axis=1)[ok] / norms[ok]).mean()) if ok.any() else 0.0


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

    def add(self, models: ModelSet, item: int, user_id: str) -> bool:
        """Fold one positive event of ``user_id`` on a fresh ``item``; False when there is
        nothing to fold (the item has a fitted vector, or the user none)."""
        if not models.fresh(np.array([item]))[0]:
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

    def vectors(
        self, models: ModelSet, items: np.ndarray, text: TextRows | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(mask, vectors)``: which of ``items`` have a folded vector, and those vectors;
        with ``text`` (the catalog's text vectors and which items have text) and a text
        map in ``models``, fresh items with text have one from their text at least."""
        mask = np.zeros(len(items), dtype=bool)
        current = models is self._models and bool(self._acc)
        if current:
            inside = items < len(self._has)
            mask[inside] = self._has[items[inside]]
        prior, predicted = text_priors(models, items, text)
        if not mask.any() and not prior.any():
            return mask, np.zeros((0, models.dim))
        priors = np.zeros((len(items), models.dim))
        priors[prior] = predicted
        out = priors[mask | prior]
        if current:
            for j, at in enumerate(np.flatnonzero(mask | prior)):
                if mask[at]:
                    out[j] = self.vector(int(items[at]), priors[at] if prior[at] else None)
        return mask | prior, out

    def vector(self, item: int, prior: np.ndarray | None = None) -> np.ndarray:
        """The folded vector of an item that has one, moved from ``prior`` if given."""
        v = self._solved.get(item)
        if v is None:
            a, b = self._acc[item]
            if prior is not None:
                b = b + self._gram @ prior
            v = self._solved[item] = np.linalg.solve(self._gram + a, b)
        return v
