"""The sequential transformer at request time, with its per-user score cache.

Scores come from the user's recent positive items, oldest first. Items the transformer
was not trained with (added since) are scored by their text alone. Scores are
standardised over the catalog, so the feature means the same for every user. For the
serving models they are kept per user until that user's next event (a byte-bounded LRU);
other models (a refit replaying its validation window) are scored afresh.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from pulserec.engine.config import EngineConfig
from pulserec.engine.items import LiveItems
from pulserec.engine.modelset import ModelSet
from pulserec.state.base import UserState

Layout = tuple[np.ndarray, np.ndarray, np.ndarray, bool]
"""Each catalog item's transformer index (-1: none), the mask of items that have one, the
indices of those that do not, and whether the catalog's order is the transformer's."""

Key = tuple[int, int, int]
"""What a user's cached scores are valid for: their events, recent length, catalog size."""


class SequentialScorer:
    """Next-item scores of the transformer over the live catalog, cached per user."""

    def __init__(self, items: LiveItems, config: EngineConfig) -> None:
        self.items = items
        self.config = config  # read per call: ``sequential`` and ``sequential_cache_mb``
        self._serving: ModelSet | None = None
        self._cache: OrderedDict[str, tuple[Key, np.ndarray | None]] = OrderedDict()
        self._cache_bytes = 0
        self._layout: tuple[ModelSet, int, Layout] | None = None
        self._lock = threading.Lock()

    def serve(self, models: ModelSet | None) -> None:
        """From now on ``models`` are the serving ones: every cached score is dropped."""
        with self._lock:
            self._serving = models
            self._cache.clear()
            self._cache_bytes = 0

    def forget(self, user_id: str) -> None:
        """Drop one user's cached scores."""
        with self._lock:
            self._drop(user_id)

    @property
    def cached_users(self) -> list[str]:
        """Users whose scores are held, least recently used first."""
        with self._lock:
            return list(self._cache)

    @property
    def cached_bytes(self) -> int:
        return self._cache_bytes

    def scores(self, models: ModelSet | None, state: UserState) -> np.ndarray | None:
        """Standardised next-item scores over the catalog; None without a transformer."""
        if (
            not self.config.sequential
            or models is None
            or models.sequential is None
            or models.seq_items is None
        ):
            return None  # turned off, or not fitted; saved models may still hold one
        n = len(self.items)
        key = (state.n_events, len(state.recent), n)
        serving = models is self._serving
        if serving:
            with self._lock:
                hit = self._cache.get(state.user_id)
                if hit is not None and hit[0] == key:
                    self._cache.move_to_end(state.user_id)
                    return hit[1]
        out = self._compute(models, state, n)
        if serving:
            self._remember(models, state.user_id, key, out)
        return out

    def _compute(self, models: ModelSet, state: UserState, n: int) -> np.ndarray | None:
        _torch_single_thread()
        model: Any = models.sequential
        known, has, extra, identity = self._layout_for(models, n)
        sequence = [int(known[i]) for i in reversed(state.recent_items(model.max_len))
                    if i < n and known[i] >= 0]  # fmt: skip
        if not sequence:
            return None
        text = None
        item_text = self.items.text
        # the transformer's text part reads this engine's encoder only when it was
        # fitted with it (same width); otherwise new items rank last in this feature
        if len(extra) and 0 < model.item_text_.shape[1] == item_text.shape[1]:
            text = item_text[extra]
        raw = model.score_sequences([sequence], extra_item_text=text, fast=True)[0]
        if identity and n == model.n_items_:
            scores = raw  # catalog order is the transformer's: no reordering
        else:
            scores = np.empty(n, dtype=np.float32)
            scores[has] = raw[known[has]]
            scores[extra] = raw[model.n_items_ :] if text is not None else raw.min()
        out: np.ndarray = (scores - scores.mean(dtype=np.float64)) / max(float(scores.std()), 1e-9)
        return out.astype(np.float32, copy=False)

    def _layout_for(self, models: ModelSet, n: int) -> Layout:
        """The catalog's layout onto the transformer's items, built once per models and
        catalog size (O(n) per request otherwise)."""
        cached = self._layout
        # the models object itself, not its id(): an id can be reused once it is freed
        if cached is not None and cached[0] is models and cached[1] == n:
            return cached[2]
        assert models.seq_items is not None
        known = np.full(n, -1, dtype=np.int64)
        m = min(n, len(models.seq_items))
        known[:m] = models.seq_items[:m]
        has = known >= 0
        layout = (known, has, np.flatnonzero(~has), bool(np.array_equal(known, np.arange(n))))
        self._layout = (models, n, layout)
        return layout

    def _remember(
        self, models: ModelSet, user_id: str, key: Key, scores: np.ndarray | None
    ) -> None:
        budget = self.config.sequential_cache_mb * 2**20
        size = scores.nbytes if scores is not None else 0
        with self._lock:
            if models is not self._serving:  # swapped meanwhile: these scores are stale
                return
            self._drop(user_id)
            if size > budget:
                return
            self._cache[user_id] = (key, scores)
            self._cache_bytes += size
            while self._cache_bytes > budget and self._cache:
                _, (_, evicted) = self._cache.popitem(last=False)
                if evicted is not None:
                    self._cache_bytes -= evicted.nbytes

    def _drop(self, user_id: str) -> None:
        old = self._cache.pop(user_id, None)
        if old is not None and old[1] is not None:
            self._cache_bytes -= old[1].nbytes


def _torch_single_thread() -> None:
    """Serve the transformer on one torch thread, as BLAS and faiss (set on first use)."""
    global _TORCH_THREADS_SET
    if not _TORCH_THREADS_SET:
        import torch

        torch.set_num_threads(1)
        _TORCH_THREADS_SET = True


_TORCH_THREADS_SET = False
