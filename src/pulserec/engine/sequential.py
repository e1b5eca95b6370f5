"""The sequential transformer at request time, with its per-user cache.

A user's scores come from their recent positive items, oldest first: the transformer's
state after them (computed once per event of theirs, a vector of its width) times an
item's vector. Nothing per request runs over the whole catalog: the candidate source asks
an inner-product index for the top items, the feature scores only the candidates, and
the scores are standardised with the mean and spread of that user's scores over the
catalog, exact from the item vectors' moments (:mod:`pulserec.engine.seqspace`).

Items the transformer was not fitted on (added since) get a vector from their text alone
when it has a text part, added as the catalog grows or their text arrives; without one
they rank last in this feature. For the serving models a user's state is kept until
that user's next event (a byte-bounded LRU); other models (a refit replaying its
validation window) compute it afresh.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from pulserec.engine.arrays import in_sorted, top_indices
from pulserec.engine.config import EngineConfig
from pulserec.engine.items import LiveItems
from pulserec.engine.modelset import ModelSet
from pulserec.engine.seqspace import SeqSpace
from pulserec.index.base import VectorIndex
from pulserec.index.ivf import IVFIndex
from pulserec.state.base import UserState

Search = Callable[[VectorIndex, np.ndarray, int], np.ndarray]
"""Asks a vector index for its ``n`` best keys for one query (-1 padded)."""

Key = tuple[int, int]
"""What a user's cached state is valid for: their events and recent length."""

LOW = -3.0
"""The standardised score of an item without a vector (or lower, below every candidate)."""


class ItemVectors:
    """One models' item vectors over the live catalog: those the transformer was fitted
    on (:class:`SeqSpace`) and, for the others, text-only vectors added as they come."""

    def __init__(self, models: ModelSet, items: LiveItems, exact_threshold: int) -> None:
        assert models.seq_space is not None and models.sequential is not None
        self.models = models
        self.space: SeqSpace = models.seq_space
        model: Any = models.sequential
        self.model = model
        self.bias = float(model.repeat_bias_)
        self.moments = self.space.moments.copy()
        self.whole = bool(self.space.has.all()) and self.space.vectors.dtype == np.float32
        """Whether every catalog row the models cover has a fitted vector."""
        dim = self.space.vectors.shape[1]
        self.extra = IVFIndex(dim, exact_threshold=exact_threshold)
        self.slot = np.full(0, -1, dtype=np.int64)
        """Catalog index -> row of ``extra_vectors`` (-1: none)."""
        self.extra_vectors = np.zeros((0, dim), dtype=np.float32)
        self.n_extra = 0
        text_dim = model.item_text_.shape[1]
        # the text part reads this engine's encoder only when fitted with it (same width)
        self.by_text = 0 < text_dim == items.text.shape[1]
        self.missing = np.zeros(0, dtype=np.int64)
        """Catalog indices without a vector yet, waiting for their text."""
        self.upto = 0
        self.text_version = -1
        self._lock = threading.Lock()

    def sync(self, items: LiveItems) -> None:
        """Take in the catalog's new items and any text that arrived since the last call."""
        n = len(items)
        if n == self.upto and items.text_version == self.text_version:
            return
        with self._lock:
            if n > self.upto:
                new = np.arange(self.upto, n, dtype=np.int64)
                covered = self.space.has
                inside = new < len(covered)
                keep = np.ones(len(new), dtype=bool)
                keep[inside] = ~covered[new[inside]]
                new = new[keep]
                self.upto = n
                self.missing = np.r_[self.missing, new] if self.by_text else self.missing
                if len(self.slot) < n:
                    self.slot = np.r_[
                        self.slot,
                        np.full(max(n, 2 * len(self.slot)) - len(self.slot), -1, np.int64),
                    ]
            self.text_version = items.text_version
            if not len(self.missing):
                return
            has_text = items.has_text[self.missing]
            ready = self.missing[has_text]
            self.missing = self.missing[~has_text]
            if len(ready):
                vectors = self.model.text_item_vectors(items.text[ready])
                self._add(ready, vectors)

    def _add(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        need = self.n_extra + len(rows)
        if need > len(self.extra_vectors):
            grown = np.zeros((max(need, 2 * len(self.extra_vectors), 64),
                              self.extra_vectors.shape[1]), np.float32)  # fmt: skip
            grown[: self.n_extra] = self.extra_vectors[: self.n_extra]
            self.extra_vectors = grown
        self.extra_vectors[self.n_extra : need] = vectors
        self.slot[rows] = np.arange(self.n_extra, need)
        self.n_extra = need
        self.extra.add(rows, vectors)
        self.moments.add(vectors)

    def vectors(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The vectors of catalog ``rows`` (zero where none) and the mask of those with one."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.whole and (not len(rows) or int(rows.max()) < len(self.space.has)):
            # the usual case (every row a fitted one): one gather, no masks
            return self.space.vectors[rows], np.ones(len(rows), dtype=bool)
        out = np.zeros((len(rows), self.space.vectors.shape[1]), dtype=np.float32)
        has = np.zeros(len(rows), dtype=bool)
        covered = self.space.has
        inside = rows < len(covered)
        fitted = np.zeros(len(rows), dtype=bool)
        fitted[inside] = covered[rows[inside]]
        out[fitted] = self.space.vectors[rows[fitted]]
        has |= fitted
        rest = ~fitted & (rows < len(self.slot))
        slots = np.full(len(rows), -1, dtype=np.int64)
        slots[rest] = self.slot[rows[rest]]
        extra = slots >= 0
        out[extra] = self.extra_vectors[slots[extra]]
        return out, has | extra


class UserScores:
    """One user's transformer scores, standardised over the catalog, for any items."""

    def __init__(self, state: np.ndarray, sequence: np.ndarray, vectors: ItemVectors) -> None:
        self.state = state
        self.sequence = sequence
        """Catalog indices of the user's sequence: the repeat bias applies to them."""
        self.item_vectors = vectors
        self.mean, self.std = self._moments()

    def _moments(self) -> tuple[float, float]:
        iv = self.item_vectors
        m = iv.moments
        if m.count == 0:
            return 0.0, 1.0
        h = self.state.astype(np.float64)
        total = float(h @ m.total)
        square = float(h @ m.second @ h)
        b = iv.bias
        vecs, has = iv.vectors(self.sequence)
        if b and has.any():  # the repeat bias, exactly: the sequence's items move by b
            x = vecs[has].astype(np.float64) @ h
            total += b * len(x)
            square += float(np.sum(2.0 * b * x + b * b))
        mean = total / m.count
        var = square / m.count - mean * mean
        return mean, max(var, 0.0) ** 0.5 or 1.0

    def at(self, rows: np.ndarray) -> np.ndarray:
        """Standardised scores of catalog ``rows``."""
        vecs, has = self.item_vectors.vectors(rows)
        raw = vecs @ self.state
        bias = self.item_vectors.bias
        if bias:  # the sequence is sorted: binary searches, no np.isin
            raw[in_sorted(np.asarray(rows, dtype=np.int64), self.sequence)] += bias
        out = ((raw - self.mean) / self.std).astype(np.float32)
        if not has.all():
            out[~has] = min(LOW, float(out[has].min())) if has.any() else LOW
        return out  # type: ignore[no-any-return]

    def top(self, n: int, search: Search | None = None) -> np.ndarray:
        """The catalog indices of the ``n`` best items (by the state's product alone);
        ``search(index, query, n)`` asks an index (a request's, to honour its filter)."""
        iv = self.item_vectors
        ask = search if search is not None else _search
        keys = ask(iv.space.index, self.state, n)
        if iv.n_extra:
            keys = np.r_[keys, ask(iv.extra, self.state, n)]
            keys = keys[keys >= 0]
            vecs, _ = iv.vectors(keys)
            keys = keys[top_indices(vecs @ self.state, n)]
        found: np.ndarray = keys[keys >= 0]
        return found


def _search(index: VectorIndex, query: np.ndarray, n: int) -> np.ndarray:
    found: np.ndarray = index.search(np.asarray(query, np.float32)[None], n)[0][0]
    return found


class SequentialScorer:
    """The transformer's scores over the live catalog, a user's state cached per user."""

    def __init__(self, items: LiveItems, config: EngineConfig) -> None:
        self.items = items
        self.config = config  # read per call: ``sequential`` and ``sequential_cache_mb``
        self._serving: ModelSet | None = None
        self._cache: OrderedDict[str, tuple[Key, tuple[np.ndarray, np.ndarray] | None]] = (
            OrderedDict()
        )
        self._cache_bytes = 0
        self._vectors: list[ItemVectors] = []  # the serving models' and the last other's
        self._lock = threading.Lock()

    def serve(self, models: ModelSet | None) -> None:
        """From now on ``models`` are the serving ones: every cached state is dropped."""
        with self._lock:
            self._serving = models
            self._cache.clear()
            self._cache_bytes = 0
            self._vectors = [v for v in self._vectors if v.models is models]

    def forget(self, user_id: str) -> None:
        """Drop one user's cached state."""
        with self._lock:
            self._drop(user_id)

    @property
    def cached_users(self) -> list[str]:
        """Users whose states are held, least recently used first."""
        with self._lock:
            return list(self._cache)

    @property
    def cached_bytes(self) -> int:
        return self._cache_bytes

    def scores(self, models: ModelSet | None, state: UserState) -> UserScores | None:
        """The user's standardised next-item scores; None without a transformer or
        without a recent item it knows."""
        if (
            not self.config.sequential
            or models is None
            or models.sequential is None
            or models.seq_space is None
        ):
            return None  # turned off, or not fitted; saved models may still hold one
        vectors = self._item_vectors(models)
        vectors.sync(self.items)
        key = (state.n_events, len(state.recent))
        serving = models is self._serving
        hit = None
        if serving:
            with self._lock:
                hit = self._cache.get(state.user_id)
                if hit is not None and hit[0] == key:
                    self._cache.move_to_end(state.user_id)
                else:
                    hit = None
        if hit is not None:
            part = hit[1]
        else:
            part = self._compute(models, state)
            if serving:
                self._remember(models, state.user_id, key, part)
        return None if part is None else UserScores(part[0], part[1], vectors)

    def _item_vectors(self, models: ModelSet) -> ItemVectors:
        with self._lock:
            for v in self._vectors:
                # the models object itself, not its id(): an id can be reused once freed
                if v.models is models:
                    return v
            made = ItemVectors(models, self.items, self.config.exact_threshold)
            keep = [v for v in self._vectors if v.models is self._serving]
            self._vectors = [*keep[:1], made]
            return made

    def _compute(self, models: ModelSet, state: UserState) -> tuple[np.ndarray, np.ndarray] | None:
        _torch_single_thread()
        model: Any = models.sequential
        assert models.seq_items is not None
        known = models.seq_items
        rows = [i for i in reversed(state.recent_items(model.max_len))
                if i < len(known) and known[i] >= 0]  # fmt: skip
        if not rows:
            return None
        h = model.sequence_states([[int(known[i]) for i in rows]])[0]
        return h, np.unique(np.asarray(rows, dtype=np.int64))

    def _remember(
        self,
        models: ModelSet,
        user_id: str,
        key: Key,
        part: tuple[np.ndarray, np.ndarray] | None,
    ) -> None:
        budget = self.config.sequential_cache_mb * 2**20
        size = _nbytes(part)
        with self._lock:
            if models is not self._serving:  # swapped meanwhile: this state is stale
                return
            self._drop(user_id)
            if size > budget:
                return
            self._cache[user_id] = (key, part)
            self._cache_bytes += size
            while self._cache_bytes > budget and self._cache:
                _, (_, evicted) = self._cache.popitem(last=False)
                self._cache_bytes -= _nbytes(evicted)

    def _drop(self, user_id: str) -> None:
        old = self._cache.pop(user_id, None)
        if old is not None:
            self._cache_bytes -= _nbytes(old[1])


def _nbytes(part: tuple[np.ndarray, np.ndarray] | None) -> int:
    return 0 if part is None else part[0].nbytes + part[1].nbytes


def _torch_single_thread() -> None:
    """Serve the transformer on one torch thread, as BLAS and faiss (set on first use)."""
    global _TORCH_THREADS_SET
    if not _TORCH_THREADS_SET:
        import torch

        torch.set_num_threads(1)
        _TORCH_THREADS_SET = True


_TORCH_THREADS_SET = False
