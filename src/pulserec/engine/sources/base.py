"""What a candidate source sees of one request, and the protocol it implements.

A :class:`Request` carries one ranking call's models, user state and live item signals.
Anything costly that both a source and a ranking feature read (co-visitation votes, the
transformer's scores) is a *signal*: a function of the request, computed at most once
per request through :meth:`Request.signal`.

A request may carry ``allowed``, a mask over the catalog (an operator's filter): every
source then proposes allowed items only, searching inside the mask (:meth:`Request.search`,
:meth:`Request.top`, :func:`top_of`) rather than fetching more and discarding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

from pulserec.engine.arrays import top_indices, unit
from pulserec.engine.config import EngineConfig
from pulserec.engine.items import LiveItems
from pulserec.engine.live import LiveSignals
from pulserec.engine.modelset import ModelSet
from pulserec.engine.sequential import SequentialScorer
from pulserec.index.base import VectorIndex
from pulserec.state.base import UserState

if TYPE_CHECKING:
    from pulserec.engine.sources.factor import FactorCache

T = TypeVar("T")


@dataclass
class Request:
    """One ranking call: whom for, against which models, with which live item signals.

    ``live`` holds the item-side signals learned per event (the serving ones, or a
    refit's replay's own) and ``trending`` values proportional to its slow trending counts
    over the catalog (:meth:`~pulserec.engine.trending.Trending.raw`: order and ratios;
    counts through ``live.trending.at``).
    ``allowed``: the items a filter lets through (None: every item). ``factor_cache``
    keeps the factor source's candidates per user for the serving models (None: none).
    """

    models: ModelSet | None
    state: UserState | None
    user_id: str
    items: LiveItems
    trending: np.ndarray
    live: LiveSignals
    config: EngineConfig
    scorer: SequentialScorer
    allowed: np.ndarray | None = None
    factor_cache: FactorCache | None = None
    _allowed_idx: np.ndarray | None = field(default=None, repr=False)
    _subsets: dict[int, Any] = field(default_factory=dict, repr=False)
    _signals: dict[Callable[..., Any], Any] = field(default_factory=dict, repr=False)
    _per_cands: dict[Callable[..., Any], tuple[np.ndarray, Any]] = field(
        default_factory=dict, repr=False
    )
    _searched: dict[tuple[int, int, bytes], np.ndarray] = field(default_factory=dict, repr=False)

    def signal(self, compute: Callable[[Request], T]) -> T:
        """``compute(self)``, computed on the first call of this request only."""
        if compute not in self._signals:
            self._signals[compute] = compute(self)
        return self._signals[compute]  # type: ignore[no-any-return]

    def of_candidates(self, compute: Callable[[Request, np.ndarray], T], cands: np.ndarray) -> T:
        """``compute(self, cands)``, computed once while ``cands`` is the same array: the
        features of one ranking pass share what they all read of its candidates."""
        hit = self._per_cands.get(compute)
        if hit is None or hit[0] is not cands:
            hit = self._per_cands[compute] = (cands, compute(self, cands))
        return hit[1]

    def restrict(self, allowed: np.ndarray | None) -> None:
        """Let the following source calls propose only ``allowed`` items (None: all);
        the request's signals stay valid (they are filtered where they are read)."""
        self.allowed = allowed
        self._allowed_idx = None
        self._subsets.clear()
        self._searched.clear()

    @property
    def allowed_idx(self) -> np.ndarray:
        """The indices ``allowed`` lets through."""
        if self._allowed_idx is None:
            if self.allowed is None:
                self._allowed_idx = np.arange(len(self.trending), dtype=np.int64)
            else:
                self._allowed_idx = np.flatnonzero(self.allowed).astype(np.int64)
        return self._allowed_idx

    def search(self, index: VectorIndex, query: np.ndarray, n: int) -> np.ndarray:
        """The ``n`` best allowed keys of a vector index for one query (-1 padded).

        Where the index would score a narrow filter's vectors exactly, they are gathered
        once per request and index (two sources query the factor index in turn). A query
        asked of the same index twice is searched once: the ``ann`` and ``factor`` sources
        ask the same one for a user without a short-term vector."""
        q = np.asarray(query, np.float32)[None]
        key = (id(index), n, q.tobytes())
        hit = self._searched.get(key)
        if hit is None:
            hit = self._searched[key] = self._search(index, q, n)
        return hit

    def _search(self, index: VectorIndex, q: np.ndarray, n: int) -> np.ndarray:
        if self.allowed is not None:
            subset = self._subsets.get(id(index), False)
            if subset is False:
                gather = getattr(index, "allowed_subset", None)
                subset = self._subsets[id(index)] = gather(self.allowed) if gather else None
            if subset is not None:
                keys, vectors = subset
                top: np.ndarray = keys[top_indices(vectors @ q[0], n)]
                return top
        found: np.ndarray = index.search(q, n, allow=self.allowed)[0][0]
        return found

    def top(self, scores: np.ndarray, n: int) -> np.ndarray:
        """The ``n`` allowed items with the highest dense ``scores`` (over the catalog)."""
        if self.allowed is None:
            return top_indices(scores, n)
        pool = self.allowed_idx
        pool = pool[pool < len(scores)]
        found: np.ndarray = pool[top_indices(scores[pool], n)]
        return found

    def keep(self, items: np.ndarray) -> np.ndarray:
        """Which of ``items`` (catalog indices) are allowed, as a bool array."""
        if self.allowed is None:
            return np.ones(len(items), dtype=bool)
        ok = (items >= 0) & (items < len(self.allowed))
        ok[ok] = self.allowed[items[ok]]
        return ok

    @cached_property
    def long_term(self) -> np.ndarray | None:
        """The user's factor vector; None for a user the models were not fitted on."""
        return self.models.long_term(self.user_id) if self.models is not None else None

    @cached_property
    def short_cf(self) -> np.ndarray | None:
        """The short-term interest in the factor space, unit length; None when empty."""
        return unit(self.state.short_cf) if self.state is not None else None

    @cached_property
    def short_text(self) -> np.ndarray | None:
        """The short-term interest in the text space, unit length; None when empty."""
        return unit(self.state.short_text) if self.state is not None else None


Pools = tuple[tuple[Callable[["Request"], Any], int], ...]


def top_of(request: Request, pools: Pools) -> np.ndarray | None:
    """The union of the top ``size`` allowed items of each sparse-vote ``signal`` in
    ``pools`` (``(signal, size)`` pairs; a signal returns ``(items, scores)`` or None)."""
    found = []
    for signal, size in pools:
        votes = request.signal(signal)
        if votes is not None:
            items, scores = votes
            if request.allowed is not None:
                ok = request.keep(items)
                items, scores = items[ok], scores[ok]
            found.append(items[top_indices(scores, size)])
    return np.concatenate(found) if found else None


class Source(Protocol):
    """Proposes candidate items for one request."""

    name: str

    def candidates(self, request: Request, n: int) -> np.ndarray | None:
        """Up to ``n`` item indices (any order; -1 entries are ignored), or None when this
        source has nothing to go on for this request."""
        ...
