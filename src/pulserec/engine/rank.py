"""One ranking call: candidates from the sources, filters, features, the blend, diversity,
reasons. Each part is visited once per call; the request carries what they share."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from pulserec.engine.arrays import unit_rows
from pulserec.engine.config import EngineConfig
from pulserec.engine.explain import Explainer
from pulserec.engine.features import DEFAULT_WEIGHTS, NAMES, feature_matrix
from pulserec.engine.items import LiveItems
from pulserec.engine.live import LiveSignals
from pulserec.engine.modelset import ModelSet
from pulserec.engine.sequential import SequentialScorer
from pulserec.engine.sources import Request, gather
from pulserec.rerank.mmr import mmr
from pulserec.state.base import UserState


class Ranker:
    """Ranks the live catalog for one user against given models."""

    def __init__(
        self,
        items: LiveItems,
        config: EngineConfig,
        scorer: SequentialScorer,
        explainer: Explainer,
    ) -> None:
        self.items = items
        self.config = config
        self.scorer = scorer
        self.explainer = explainer

    def request(
        self,
        models: ModelSet | None,
        state: UserState | None,
        user_id: str,
        *,
        live: LiveSignals | None = None,
        n_items: int | None = None,
    ) -> Request:
        """A request against the serving live signals, unless a replay's own are given
        (ranking the first ``n_items`` items)."""
        live = live if live is not None else self.items.live
        trending = live.trending.scores(n_items if n_items is not None else len(self.items))
        return Request(
            models, state, user_id, self.items, trending, live, self.config, self.scorer
        )

    def candidates(self, request: Request, sources: tuple[str, ...] | None = None) -> np.ndarray:
        """The configured (or given) sources' candidates (sorted, unique)."""
        names = self.config.sources if sources is None else sources
        return gather(request, names, self.config.n_candidates)

    def recommend(
        self,
        request: Request,
        k: int,
        *,
        diversity: float = 0.0,
        category: str | None = None,
        exclude: Iterable[str] = (),
        exclude_seen: bool = True,
        sources: tuple[str, ...] | None = None,
        weight_factors: dict[str, float] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """The top ``k`` items, their scores and reasons.

        ``sources`` replaces the configured candidate sources and ``weight_factors``
        multiplies named features' blend weights (an experiment variant's overrides).
        """
        state = request.state
        cands = self.candidates(request, sources)
        exclude = list(exclude)
        cands = cands[self.allowed(cands, state, category, exclude, exclude_seen)]
        if len(cands) < k:  # top up from trending, then from the whole catalog
            extra = np.argsort(-request.trending, kind="stable")
            allowed = extra[self.allowed(extra, state, category, exclude, exclude_seen)]
            cands = np.r_[cands, allowed[~np.isin(allowed, cands)][: k - len(cands) + 50]]
        feats = feature_matrix(request, cands)
        weights = self.weights(request.models, state)
        if weight_factors:
            weights = weights.copy()
            for name, factor in weight_factors.items():
                weights[NAMES.index(name)] *= factor
        scores = feats @ weights
        # plain ranking by score needs no item vectors (a third of a millisecond to build)
        vectors = (
            self.rerank_vectors(request.models, cands)
            if diversity > 0
            else np.zeros((len(cands), 1))
        )
        order = mmr(scores, vectors, k, diversity)
        picked = cands[order]
        reasons = self.explainer.reasons(request.models, state, picked, feats[order] * weights)
        return picked, scores[order], reasons

    def score(self, request: Request, idx: np.ndarray) -> np.ndarray:
        """Hybrid scores of the given items (a list the caller will show): with the
        weights fitted on logged lists, where the log had them."""
        models = request.models
        if models is not None and models.list_weights is not None:
            weights = models.list_weights
        else:
            weights = self.weights(models, request.state)
        return feature_matrix(request, idx) @ weights  # type: ignore[no-any-return]

    @staticmethod
    def weights(models: ModelSet | None, state: UserState | None = None) -> np.ndarray:
        """The blend's weights; a user with no positive event yet has their own."""
        if models is None:
            return DEFAULT_WEIGHTS
        if models.cold_weights is not None and (state is None or not state.recent_items(1)):
            return models.cold_weights
        return models.weights

    def allowed(
        self,
        cands: np.ndarray,
        state: UserState | None,
        category: str | None,
        exclude: Iterable[str],
        exclude_seen: bool,
    ) -> np.ndarray:
        """Which candidates may be shown: not seen (if asked), deleted, excluded or off
        the requested category."""
        catalog = self.items.catalog
        mask = np.ones(len(cands), dtype=bool)
        if exclude_seen and state is not None and state.seen:
            mask &= ~np.isin(cands, state.seen_items())
        banned = list(self.items.deleted)
        ex = [e for e in exclude if e in catalog]
        if ex:
            banned += catalog.id_map.lookup(ex).tolist()
        if banned:
            mask &= ~np.isin(cands, np.asarray(banned, dtype=np.int64))
        if category is not None:
            at = catalog.at
            mask &= np.array([category in at(int(c)).categories for c in cands], dtype=bool)
        return mask

    def rerank_vectors(self, models: ModelSet | None, cands: np.ndarray) -> np.ndarray:
        """Unit vectors for diversity: factor and text parts side by side."""
        parts = []
        if models is not None:
            v = np.zeros((len(cands), models.dim), np.float32)
            ok = cands < models.n_items
            v[ok] = models.item_unit[cands[ok]]
            parts.append(v)
        if self.items.encoder is not None:
            parts.append(self.items.text[cands])
        if not parts:
            return np.zeros((len(cands), 1), np.float32)
        return unit_rows(np.concatenate(parts, axis=1))
