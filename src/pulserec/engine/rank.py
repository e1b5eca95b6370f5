"""One ranking call: candidates from the sources, filters, features, the blend, diversity,
reasons. Each part is visited once per call; the request carries what they share.

An operator's filter expression (and a category) becomes a mask over the catalog before
any source runs: every source searches inside it, and the top-up draws from it, so a
list is full whenever ``k`` items pass. A boost expression adds to the blended score.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pulserec.control import ExpressionError, UserView
from pulserec.engine.arrays import member, unit_rows
from pulserec.engine.config import EngineConfig
from pulserec.engine.explain import Explainer
from pulserec.engine.features import (
    DEFAULT_WEIGHTS,
    feature_matrix,
    per_feature,
    terms,
    weight_slots,
)
from pulserec.engine.items import LiveItems
from pulserec.engine.live import LiveSignals
from pulserec.engine.modelset import ModelSet
from pulserec.engine.segments import segment_of
from pulserec.engine.sequential import SequentialScorer
from pulserec.engine.sources import Request, gather
from pulserec.engine.sources.factor import FactorCache
from pulserec.ranking import crowd_part, mixed
from pulserec.rerank.mmr import mmr
from pulserec.state.base import UserState
from pulserec.types import ValidationError


class Ranker:
    """Ranks the live catalog for one user against given models."""

    def __init__(
        self,
        items: LiveItems,
        config: EngineConfig,
        scorer: SequentialScorer,
        explainer: Explainer,
        factor_cache: FactorCache | None = None,
    ) -> None:
        self.items = items
        self.config = config
        self.scorer = scorer
        self.explainer = explainer
        self.factor_cache = factor_cache

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
        trending = live.trending.raw(n_items if n_items is not None else len(self.items))
        return Request(
            models, state, user_id, self.items, trending, live, self.config, self.scorer,
            factor_cache=self.factor_cache,
        )  # fmt: skip

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
        filter: str | None = None,
        boost: str | None = None,
        sources: Sequence[str] | None = None,
        weights: Mapping[str, float] | None = None,
        weight_factors: Mapping[str, float] | None = None,
        seen: np.ndarray | None = None,
        context: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """The top ``k`` items, their scores and reasons.

        ``filter``: an expression items must satisfy; ``boost``: an expression added to
        each item's score (see :mod:`pulserec.control`). A bad one raises
        :class:`~pulserec.types.ValidationError` naming ``filter`` or ``boost``.
        ``sources`` and ``weights`` (by feature name) override the configured ones for
        this call (a placement's), ``weight_factors`` multiply named features' weights
        (an experiment variant's); ``seen`` replaces the user's seen items where
        ``exclude_seen``; ``context`` is the item the list is shown beside (``context.*``
        in expressions).
        """
        state = request.state
        user = self.user_view(request) if filter is not None or boost is not None else None
        self.check(filter, boost)
        allowed = (
            self.mask(request, filter, category, user, context)
            if filter is not None or category is not None
            else None
        )
        # a filter every item passes searches like none (no mask to carry through)
        request.restrict(None if allowed is not None and allowed.all() else allowed)
        cands = self.candidates(request, None if sources is None else tuple(sources))
        exclude = list(exclude)
        cands = cands[self.allowed(cands, state, category, exclude, exclude_seen, seen)]
        if len(cands) < k:  # top up from trending, then from the whole (allowed) catalog
            pool = request.allowed_idx
            extra = pool[np.argsort(-request.trending[pool], kind="stable")]
            allowed = extra[self.allowed(extra, state, category, exclude, exclude_seen, seen)]
            cands = np.r_[cands, allowed[~np.isin(allowed, cands)][: k - len(cands) + 50]]
        feats = terms(feature_matrix(request, cands))
        scored = self.blended(feats, request.models, state, weights, weight_factors)
        scores = scored.scores
        if boost is not None:
            scores = scores + self.items.expressions.boost(boost, cands, user, context=context)
        # plain ranking by score needs no item vectors (a third of a millisecond to build)
        vectors = (
            self.rerank_vectors(request.models, cands)
            if diversity > 0
            else np.zeros((len(cands), 1))
        )
        order = mmr(scores, vectors, k, diversity)
        picked = cands[order]
        contrib = per_feature(feats[order] * scored.explained(order))
        reasons = self.explainer.reasons(request.models, state, picked, contrib)
        return picked, scores[order], reasons

    @staticmethod
    def override(weights: np.ndarray, overrides: Mapping[str, float] | None) -> np.ndarray:
        """The blend's weights with some set by feature name: the value's weight is the
        one given, the feature's square and standardised terms are dropped (an operator's
        weight means what it says)."""
        if not overrides:
            return weights
        out = weights.copy()
        for name, value in overrides.items():
            value_slot, *others = weight_slots(name)
            out[value_slot] = value
            out[others] = 0.0
        return out

    def check(self, filter: str | None, boost: str | None) -> None:
        """Compile the expressions (cached), or raise a ValidationError naming which."""
        for name, text in (("filter", filter), ("boost", boost)):
            if text is None:
                continue
            try:
                self.items.expressions.compiled(text, name)  # type: ignore[arg-type]
            except ExpressionError as exc:
                raise ValidationError(name, str(exc)) from None

    def user_view(self, request: Request) -> UserView:
        """What an expression may read of the request's user."""
        state = request.state
        if state is None:
            return UserView(request.user_id)
        return UserView(
            request.user_id, state.recent_items(self.config.n_recent), state.seen_items()
        )

    def mask(
        self,
        request: Request,
        filter: str | None,
        category: str | None,
        user: UserView | None,
        context: int | None = None,
    ) -> np.ndarray:
        """The items a filter and a category let through, deleted ones left out."""
        n = len(request.trending)
        if filter is None:
            allowed = np.ones(n, dtype=bool)
        else:
            allowed = self.items.expressions.mask(filter, user, context=context)[:n].copy()
        if category is not None:
            allowed &= self.items.properties.column("categories").contains([category])[:n]
        if self.items.deleted:
            dead = self.items.deleted_array()
            allowed[dead[dead < n]] = False
        return allowed

    def score(self, request: Request, idx: np.ndarray) -> np.ndarray:
        """Hybrid scores of the given items (a list the caller will show): with the
        weights fitted on logged lists, where the log had them."""
        models = request.models
        feats = terms(feature_matrix(request, idx))
        if models is not None and models.list_weights is not None:
            return feats @ models.list_weights  # type: ignore[no-any-return]
        return self.blended(feats, models, request.state).scores

    def blended(
        self,
        feats: np.ndarray,
        models: ModelSet | None,
        state: UserState | None,
        weights: Mapping[str, float] | None = None,
        weight_factors: Mapping[str, float] | None = None,
    ) -> Blended:
        """The candidates' scores from their blend terms ``feats``: by the user's
        segment's weights, or by the two-expert mixture where the models hold one
        (:mod:`pulserec.engine.mixture`). An operator's ``weights`` (by feature name) rank
        linearly by themselves; a variant's ``weight_factors`` scale both experts."""
        own = self.override(self.weights(models, state), weights)
        crowd = None
        if not weights and models is not None and models.crowd_weights is not None:
            crowd = models.crowd_weights
        if weight_factors:
            own = scaled(own, weight_factors)
            crowd = scaled(crowd, weight_factors) if crowd is not None else None
        scores = feats @ own
        if crowd is None:
            return Blended(scores, own)
        assert models is not None
        theirs = feats @ crowd
        mix = mixed(scores, theirs, models.crowd_share)
        return Blended(mix, own, crowd, crowd_part(theirs, models.crowd_share, mix))

    @staticmethod
    def weights(models: ModelSet | None, state: UserState | None = None) -> np.ndarray:
        """The blend's weights for the user's history segment (their count of positive
        items: 0, 1-2, 3-9, 10+), where the models have weights per segment."""
        if models is None:
            return DEFAULT_WEIGHTS
        if models.segment_weights is not None:
            return models.segment_weights[segment_of(state)]  # type: ignore[no-any-return]
        return models.weights

    def allowed(
        self,
        cands: np.ndarray,
        state: UserState | None,
        category: str | None,
        exclude: Iterable[str],
        exclude_seen: bool,
        seen: np.ndarray | None = None,
    ) -> np.ndarray:
        """Which candidates may be shown: not seen (if asked; ``seen`` replaces the
        user's seen items), deleted, excluded or off the requested category."""
        catalog = self.items.catalog
        mask = np.ones(len(cands), dtype=bool)
        if exclude_seen and seen is not None:
            mask &= ~member(cands, np.asarray(seen, dtype=np.int64))
        elif exclude_seen and state is not None and state.seen:
            mask &= ~member(cands, state.seen_items())
        banned = list(self.items.deleted)
        ex = [e for e in exclude if e in catalog]
        if ex:
            banned += catalog.id_map.lookup(ex).tolist()
        if banned:
            mask &= ~member(cands, np.asarray(banned, dtype=np.int64))
        if category is not None:
            in_category = self.items.properties.column("categories").contains([category])
            ok = cands < len(in_category)
            ok[ok] = in_category[cands[ok]]
            mask &= ok
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


@dataclass(frozen=True)
class Blended:
    """A candidate list's scores and the weights that made them."""

    scores: np.ndarray
    own: np.ndarray
    """The linear blend's weights (the own expert's, under a mixture)."""
    crowd: np.ndarray | None = None
    """The crowd's expert's weights, under a mixture."""
    part: np.ndarray | None = None
    """The crowd's expert's part of each candidate's probability, under a mixture."""

    def explained(self, rows: np.ndarray) -> np.ndarray:
        """The weights each of ``rows`` is explained by: under a mixture each expert's,
        weighed by its part of that candidate's probability (one row of weights each);
        otherwise the blend's."""
        if self.crowd is None or self.part is None:
            return self.own
        at = self.part[rows, None]
        return (1.0 - at) * self.own + at * self.crowd  # type: ignore[no-any-return]


def scaled(weights: np.ndarray, factors: Mapping[str, float]) -> np.ndarray:
    """``weights`` with every term of each named feature multiplied by its factor."""
    out = weights.copy()
    for name, factor in factors.items():
        out[weight_slots(name)] *= factor
    return out
