"""The engine's request API: lists, scores, similar items, search, placements,
experiments, interests.

:class:`ServingMixin` holds what a request asks of :class:`~pulserec.engine.Engine` once
the events are in and the models fitted: ``recommend`` (the user's experiment variant
and its overrides, the stored placement, exploration, the list logged by the online
loop), ``score_items``, ``similar``, ``search``, the placements' and experiments' admin
calls and ``interests``. Each reads the serving models and the user's state under the
engine's lock and leaves the ranking to the parts (:class:`~pulserec.engine.rank.Ranker`,
:class:`~pulserec.engine.placing.Placer`, :mod:`~pulserec.engine.lookup`,
:class:`~pulserec.engine.insight.Insight`). Events come in through
:mod:`~pulserec.engine.ingest`, models through :mod:`~pulserec.engine.refit`.

A mixin of ``Engine`` (see :mod:`~pulserec.engine.core` for why): it holds no state of
its own. The attributes annotated on the class are set by ``Engine.__init__``; the names
under ``TYPE_CHECKING`` are defined by core.py and the other mixins.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pulserec.catalog.catalog import Catalog
from pulserec.control.placements import Placement
from pulserec.engine.config import EngineConfig
from pulserec.engine.explore import explore, novelty
from pulserec.engine.features import NAMES
from pulserec.engine.insight import Insight, Interests
from pulserec.engine.items import LiveItems
from pulserec.engine.listcache import ListCache
from pulserec.engine.lookup import search, similar
from pulserec.engine.modelset import ModelSet
from pulserec.engine.placing import Placer
from pulserec.engine.rank import Ranker
from pulserec.engine.sources import SOURCES
from pulserec.online.experiments import Experiment, Overrides
from pulserec.online.loop import OnlineLoop
from pulserec.state.memory import MemoryStateStore
from pulserec.text.base import TextEncoder
from pulserec.types import Recommendation, Scored, ValidationError


class ServingMixin:
    """The request API of :class:`~pulserec.engine.Engine`."""

    config: EngineConfig
    encoder: TextEncoder | None
    online: OnlineLoop | None
    items: LiveItems
    states: MemoryStateStore
    ranker: Ranker
    placer: Placer
    insight: Insight
    list_cache: ListCache
    models: ModelSet | None
    last_seq: int
    _lock: threading.RLock

    if TYPE_CHECKING:

        @property
        def catalog(self) -> Catalog: ...

        def catch_up(self) -> int: ...

    # -------------------------------------------------------------- recommend
    def recommend(
        self,
        user_id: str,
        k: int = 10,
        *,
        diversity: float = 0.0,
        category: str | None = None,
        exclude: Iterable[str] = (),
        exclude_seen: bool = True,
        filter: str | None = None,
        boost: str | None = None,
        placement: str | None = None,
        context_item: str | None = None,
        now: float | None = None,
    ) -> Recommendation:
        """Top-``k`` items for a user, each with its score and the reason it was chosen.

        ``filter`` and ``boost`` are expressions over item properties and the user
        (:mod:`pulserec.control`): only items passing the filter are retrieved, and the
        boost adds to each item's score. A bad expression raises
        :class:`~pulserec.types.ValidationError` naming ``filter`` or ``boost`` and the
        position. ``placement`` names where the list is shown: online metrics are kept
        per placement, and a stored :class:`Placement` of that name applies its rules too
        (its filter and boost with the request's; ``k`` and ``diversity`` are the
        caller's: the HTTP route takes the placement's when the request gives none).
        ``context_item``: the item the list is shown beside (a product page's product):
        expressions read it as ``context.*``, and it is left out of the list.

        With an online loop the list is logged (at ``now``, default the clock) and named
        by its ``recommendation_id``, and the user's experiment variant, if any,
        overrides settings for this request.
        """
        if not 0.0 <= diversity <= 1.0:
            raise ValueError(f"diversity: expected a value in [0, 1], got {diversity}")
        variant = self.online.assign(user_id)[1] if self.online is not None else None
        o = variant.overrides if variant is not None else Overrides()
        diversity, sources, factors = o.ranking(diversity, self.config.sources)
        exclude = list(exclude)
        # only the plain request's list is kept: rules, filters and exploration vary it
        plain = not (category or exclude or filter or boost or placement or context_item)
        keep = self.list_cache.enabled and plain and not o.exploration
        with self._lock:
            self.catch_up()
            models = self.models
            state = self.states.get(user_id)
            key = None
            if keep:
                key = (
                    k, diversity, exclude_seen, sources, tuple(sorted((factors or {}).items())),
                    models.version if models is not None else None,
                    (state.n_events, state.seq) if state is not None else None,
                )  # fmt: skip
            kept = self.list_cache.get(user_id, key) if key is not None else None
            request = self.ranker.request(models, state, user_id)
            context = None
            if context_item is not None:
                if self.items.is_deleted(context_item):
                    raise ValidationError("context_item", f"no item {context_item!r}")
                context = self.catalog.idx(context_item)
                exclude = [*exclude, context_item]
            chosen = self.placer.get(placement) if placement is not None else None
            if kept is not None:
                picked, scores, reasons = kept
            elif chosen is None:
                picked, scores, reasons = self.ranker.recommend(
                    request, k, diversity=diversity, category=category, exclude=exclude,
                    exclude_seen=exclude_seen, filter=filter, boost=boost, context=context,
                    sources=sources, weight_factors=factors,
                )  # fmt: skip
                if key is not None:
                    self.list_cache.put(user_id, key, (picked, scores, reasons))
            else:
                picked, scores, reasons = self.placer.rank(
                    request, chosen, k, diversity=diversity, category=category,
                    exclude=exclude, exclude_seen=exclude_seen, filter=filter, boost=boost,
                    context=context, weight_factors=factors,
                )  # fmt: skip
            if o.exploration:
                assert self.online is not None
                picked, scores, reasons = explore(
                    self.items, self.online.counts.shown, request.state, user_id,
                    (picked, scores, reasons), o.exploration, salt=self.last_seq,
                )
            ids = self.catalog.id_map.ids(picked)
            if self.placer.tracks_shown:
                self.placer.shown.add(user_id, [str(i) for i in ids], now=time.time())
        items = tuple(
            Scored(str(i), float(s), r) for i, s, r in zip(ids, scores, reasons, strict=True)
        )
        rid, name = self.serve_list(user_id, placement or "recommendations", items, now=now)
        return Recommendation(user_id, items, models.version if models else "untrained", rid, name)

    def serve_list(
        self, user_id: str | None, placement: str, items: Sequence[Scored], *,
        now: float | None = None,
    ) -> tuple[str, str]:  # fmt: skip
        """Log a list about to be answered: its ``recommendation_id`` and the user's
        variant (both empty without an online loop or with list logging off)."""
        if self.online is None:
            return "", ""
        ids = [s.item_id for s in items]
        served = self.online.serve(user_id or "", placement, ids, now=now,
                                   novelty=novelty(self.items, ids))  # fmt: skip
        return served.recommendation_id, served.variant

    # ------------------------------------------------------------- placements
    def put_placement(self, name: str, body: object) -> Placement:
        """Store a placement from its JSON form (see :mod:`pulserec.control.placements`);
        a ValidationError names the field it cannot use."""
        placement = Placement.from_dict(name, body)
        with self._lock:
            self.placer.put(placement)
        return placement

    def placement(self, name: str) -> Placement | None:
        """The stored placement of that name, or None."""
        with self._lock:
            return self.placer.get(name)

    def placements(self) -> list[Placement]:
        """Every stored placement, by name."""
        with self._lock:
            return self.placer.all()

    def delete_placement(self, name: str) -> bool:
        """Remove a placement; False when there was none."""
        with self._lock:
            return self.placer.delete(name)

    def score_items(self, user_id: str, item_ids: Sequence[str]) -> np.ndarray:
        """Hybrid scores of given items for a user (unknown items score ``-inf``)."""
        with self._lock:
            idx = self.catalog.id_map.lookup(item_ids)
            known = idx >= 0
            out = np.full(len(idx), -np.inf)
            if known.any():
                request = self.ranker.request(self.models, self.states.get(user_id), user_id)
                out[known] = self.ranker.score(request, idx[known])
        return out

    def similar(self, item_id: str, k: int = 10) -> list[Scored]:
        """Items like ``item_id``: co-visitation, factor-space and text similarity combined."""
        with self._lock:
            idx = self.catalog.idx(item_id)
            return similar(self.items, self.models, idx, k, self.config.n_candidates)

    def search(self, query: str, k: int = 10, *, user_id: str | None = None) -> list[Scored]:
        """Semantic search over item text, personalised when a known user is given."""
        if not query.strip():
            raise ValueError("q: the query must not be empty")
        if self.encoder is None:
            raise RuntimeError("search needs a text encoder; configure one for the engine")
        if self.items.text_index is None:  # no item with text yet
            return []
        qv = self.encoder.encode([query], kind="query")[0]
        with self._lock:
            state = self.states.get(user_id) if user_id is not None else None
            return search(
                self.ranker, qv, query, k, models=self.models, state=state, user_id=user_id
            )

    # ------------------------------------------------------------ experiments
    def create_experiment(
        self, name: str, variants: Sequence[dict[str, Any]], *, horizon_users: int = 1000,
        salt: str = "", now: float | None = None,
    ) -> Experiment:  # fmt: skip
        """Start an experiment over the events from now on (see :mod:`pulserec.online`)."""
        loop = self._loop()
        return loop.create(name, variants, horizon_users=horizon_users, start_seq=self.last_seq,
                           sources=set(SOURCES), features=set(NAMES), now=now,
                           salt=salt)  # fmt: skip

    def add_variant(self, name: str, variant: dict[str, Any]) -> Experiment:
        """Add a variant to a running experiment, from traffic no variant holds."""
        return self._loop().add_variant(name, variant, sources=set(SOURCES),
                                        features=set(NAMES))  # fmt: skip

    def stop_experiment(self, name: str, *, winner: str | None = None,
                        conclude: bool = False) -> Experiment:  # fmt: skip
        """Stop an experiment (users go back to the configured settings); ``conclude``
        also records the chosen variant."""
        loop = self._loop()
        with self._lock:
            if conclude:
                experiment = loop.conclude(name, winner, stop_seq=self.last_seq)
            else:
                experiment = loop.stop(name, stop_seq=self.last_seq)
            # states of a variant that held interests still: rebuilt with them moving again
            self.states.clear()
        return experiment

    def _loop(self) -> OnlineLoop:
        if self.online is None:
            raise RuntimeError("experiments need the online loop (online.log_lists on)")
        return self.online

    # ------------------------------------------------------------- inspection
    def interests(self, user_id: str) -> Interests | None:
        """What the engine believes the user is into, short and long term, in words
        (see :mod:`pulserec.engine.insight`); None for a user without events."""
        with self._lock:
            state = self.states.get(user_id)
            if state is None:
                return None
            gathered = self.insight.gather(state)
        return self.insight.describe(gathered)
