"""The ranking features: named columns over one request's candidates.

Each feature is a function of the request and the candidate indices. The hybrid score
is a weighted sum of three terms of each (:func:`terms`): its value, its square, and its
value standardised over the request's candidates, with weights fitted on held-out events
by :func:`pulserec.ranking.fit_weights` and saved by name (:data:`BLEND_NAMES`). The
square lets a feature count more at its extremes than in its middle; the standardised
value says how an item stands against the others offered with it (a co-visitation vote
of 3 means much when the other candidates have none, little among dozens). Adding a
feature: one :class:`Feature` in :data:`FEATURES` (models saved without it load with
weight 0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pulserec.engine.arrays import sparse_lookup, unit_rows
from pulserec.engine.sources import (
    Request,
    covisit_votes,
    latest_votes,
    live_covisit_votes,
    sequential_scores,
    session_votes,
)
from pulserec.engine.sources.newest import recency as _recency
from pulserec.engine.sources.trending import category_posterior, newcomer, recent_categories
from pulserec.engine.trending import Trending

Column = Callable[[Request, np.ndarray], "np.ndarray | None"]


@dataclass(frozen=True)
class Feature:
    """One ranking feature: its name, weight before any fit, and how to compute it.

    ``column`` returns one value per candidate, or None when the feature has nothing to
    say for this request (a column of zeros). ``explains`` marks features a reason may
    name (a penalty explains nothing). ``value_only``: the blend weighs its value alone,
    its square and standardised terms held at 0 (:data:`VALUE_ONLY`).
    """

    name: str
    default_weight: float
    column: Column
    explains: bool = True
    value_only: bool = False


def _in_model(request: Request, cands: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    assert request.models is not None
    mask = cands < request.models.n_items
    return mask, cands[mask]


def _folded(request: Request, cands: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which candidates have a folded-in or text-prior factor vector, and those vectors
    (read by both factor features, computed once per ranking pass)."""
    assert request.models is not None
    return request.live.foldin.vectors(request.models, cands, request.items.text_rows)


def long_term(request: Request, cands: np.ndarray) -> np.ndarray | None:
    """The factor model's score: item factors times the user's long-term vector."""
    lt, models = request.long_term, request.models
    if models is None or lt is None:
        return None
    out = np.zeros(len(cands))
    mask, known = _in_model(request, cands)
    out[mask] = models.item_factors[known] @ lt
    folded, vectors = request.of_candidates(_folded, cands)
    if folded.any():
        out[folded] = vectors @ lt
    return out


def short_term(request: Request, cands: np.ndarray) -> np.ndarray | None:
    """Cosine of the item's factor vector with the short-term interest."""
    st, models = request.short_cf, request.models
    if models is None or st is None:
        return None
    out = np.zeros(len(cands))
    mask, known = _in_model(request, cands)
    out[mask] = models.item_unit[known] @ st
    folded, vectors = request.of_candidates(_folded, cands)
    if folded.any():
        out[folded] = unit_rows(vectors) @ st
    return out


def covisit(request: Request, cands: np.ndarray) -> np.ndarray | None:
    """Co-visitation votes of the user's latest items, counted at the refit."""
    votes = request.signal(covisit_votes)
    return None if votes is None else sparse_lookup(votes, cands)


def covisit_live(request: Request, cands: np.ndarray) -> np.ndarray | None:
    """log(1 + co-visitation votes learned per event since the process started)."""
    votes = request.signal(live_covisit_votes)
    return None if votes is None else np.log1p(sparse_lookup(votes, cands))


def text(request: Request, cands: np.ndarray) -> np.ndarray | None:
    """Cosine of the item's text with the short-term text interest (reads and searches).

    Candidates without text get the mean of those with text: a neutral value, so that
    having text is not itself a signal (on MIND, where 15% of the news shown have none,
    a 0 for them pushed clicked news down)."""
    tq = request.short_text
    if tq is None or request.items.encoder is None:
        return None
    col: np.ndarray = request.items.text[cands] @ tq
    has = request.items.has_text[cands]
    if not has.all():
        col[~has] = col[has].mean() if has.any() else 0.0
    return col


def _log_counts(request: Request, counts: Trending, cands: np.ndarray) -> np.ndarray | None:
    """log(1 + each candidate's decayed count in ``counts``); None for an empty catalog."""
    if not len(request.trending):
        return None
    return np.log1p(counts.at(cands))  # type: ignore[no-any-return]


def _trending_log(request: Request, cands: np.ndarray) -> np.ndarray:
    """log(1 + each candidate's 3-day count), read by two features (through
    ``request.of_candidates``: once a ranking pass)."""
    return np.log1p(request.live.trending.at(cands))  # type: ignore[no-any-return]


def _popular_log(request: Request, cands: np.ndarray) -> np.ndarray:
    """log(1 + each candidate's slow count), read by three features, once a ranking pass."""
    return np.log1p(request.live.popular.at(cands))  # type: ignore[no-any-return]


def trending(request: Request, cands: np.ndarray) -> np.ndarray | None:
    """log(1 + the item's live decayed interaction count)."""
    return request.of_candidates(_trending_log, cands) if len(request.trending) else None


def penalty(request: Request, cands: np.ndarray) -> np.ndarray | None:
    """How much the user pushed the item away (dislikes, skips, ignored impressions)."""
    if request.state is None:
        return None
    pen = request.state.penalties(request.config.state.impression_threshold)
    if not pen:
        return None
    return np.array([pen.get(int(c), 0.0) for c in cands])


def sequential(request: Request, cands: np.ndarray) -> np.ndarray | None:
    """The transformer's next-item score, standardised over the catalog."""
    scores = request.signal(sequential_scores)
    return None if scores is None else scores.at(cands)


def _fast_log(request: Request, cands: np.ndarray) -> np.ndarray:
    """log(1 + each candidate's count of the last hour), read by two features, once a
    ranking pass."""
    return np.log1p(request.live.trending_fast.at(cands))  # type: ignore[no-any-return]


def trending_fast(request: Request, cands: np.ndarray) -> np.ndarray | None:
    """log(1 + the item's fast-decaying interaction count): what is hot this hour."""
    return request.of_candidates(_fast_log, cands) if len(request.trending) else None


def trending_now(request: Request, cands: np.ndarray) -> np.ndarray | None:
    """log(1 + the item's count decaying in minutes): what a front page shows now."""
    return _log_counts(request, request.live.trending_now, cands)


def popular(request: Request, cands: np.ndarray) -> np.ndarray | None:
    """log(1 + the item's slowly decaying interaction count): what has been taken most
    this year or so; for newcomers only (:func:`~pulserec.engine.sources.trending.
    newcomer`)."""
    if not newcomer(request) or not len(request.trending):
        return None
    return request.of_candidates(_popular_log, cands)


def session(request: Request, cands: np.ndarray) -> np.ndarray | None:
    """log(1 + the item's session-kNN score): what sessions like the user's latest went to."""
    votes = request.signal(session_votes)
    return None if votes is None else np.log1p(sparse_lookup(votes, cands))


def fresh_trending(request: Request, cands: np.ndarray) -> np.ndarray | None:
    """The fast trending column, for items without a training event only: an item that
    arrived since the refit has no factor or co-visitation score to compete with, so how
    hot it is now is weighed apart."""
    models = request.models
    col = trending_fast(request, cands)
    if col is None or models is None:
        return None
    mask, known = _in_model(request, cands)
    fresh = np.ones(len(cands), dtype=bool)
    fresh[mask] = models.popularity[known] == 0
    return np.where(fresh, col, 0.0)


def live_ctr(request: Request, cands: np.ndarray) -> np.ndarray | None:
    """The item's smoothed click-through rate, counted per event; only where the log
    carries impressions (without them every show is a click)."""
    ctr = request.live.ctr
    return ctr.rates(cands) if ctr.impressions else None


def _category_share(
    request: Request,
    shares: Callable[[Request], tuple[np.ndarray, np.ndarray] | None],
    cands: np.ndarray,
) -> np.ndarray | None:
    """The weight the request signal ``shares`` gives each candidate's category (None:
    the user's items have no category)."""
    found = request.signal(shares)
    return None if found is None else sparse_lookup(found, request.items.category[cands])


def _recent_share(request: Request, cands: np.ndarray) -> np.ndarray | None:
    """Each candidate's category's share of the user's latest items
    (:func:`~pulserec.engine.sources.trending.recent_categories`), read by four features
    (through ``request.of_candidates``: once a ranking pass)."""
    return _category_share(request, recent_categories, cands)


def _belief_share(request: Request, cands: np.ndarray) -> np.ndarray | None:
    """The probability that the user's next choice is in each candidate's category
    (:func:`~pulserec.engine.sources.trending.category_posterior`)."""
    return _category_share(request, category_posterior, cands)


def _in_categories(
    request: Request,
    share: Callable[[Request, np.ndarray], np.ndarray | None],
    counts: Callable[[Request, np.ndarray], np.ndarray],
    cands: np.ndarray,
) -> np.ndarray | None:
    """The candidates' ``counts`` column (log counts) times the weight ``share`` gives
    each one's category (None: the user's items have no category)."""
    weight = request.of_candidates(share, cands)
    return None if weight is None else request.of_candidates(counts, cands) * weight


def category_trending(request: Request, cands: np.ndarray) -> np.ndarray | None:
    """What the crowd takes in the user's categories: log(1 + the item's trending count,
    3-day scale) times the user's latest items' share in the item's category, the newer
    weighing more (:func:`~pulserec.engine.sources.trending.recent_categories`)."""
    return _in_categories(request, _recent_share, _trending_log, cands)


def category_popular(request: Request, cands: np.ndarray) -> np.ndarray | None:
    """What the crowd has taken most in the user's categories over the slow counts
    (about a year): log(1 + the item's slow count) times the user's share in the item's
    category, as :func:`category_trending`; a category's lasting favourites, where three
    days hold too few events to tell them apart."""
    return _in_categories(request, _recent_share, _popular_log, cands)


def category_belief(request: Request, cands: np.ndarray) -> np.ndarray | None:
    """log(1 + the item's slow count) times the probability that the user's next choice
    is in the item's category (:func:`~pulserec.engine.sources.trending.
    category_posterior`): :func:`category_popular` with a hot item weighing less than a
    category's own favourite as evidence of the user's category."""
    return _in_categories(request, _belief_share, _popular_log, cands)


APPEAL_PRIOR_COUNT = 0.5
"""The events every item's appeal starts from, as if taken over :data:`APPEAL_PRIOR_S`."""

APPEAL_PRIOR_S = 86400.0
"""The time out of the prior: with :data:`APPEAL_PRIOR_COUNT`, an item first taken a
minute ago reads as one and a half events a day, not as a thousand, and one nobody has
taken yet as half an event a day (above an item taken ten times in two months: where items
keep arriving, a new one is worth a place until its first days say otherwise)."""


def _appeal(request: Request, cands: np.ndarray) -> np.ndarray:
    """log(1 + each candidate's slow count per day out): the count of about a year
    (``engine.popular_half_life_s``) over the time since the item was first taken, that
    time decayed at the same rate (so an item out for years is not diluted by years the
    counts have forgotten), from the prior of :data:`APPEAL_PRIOR_COUNT` and
    :data:`APPEAL_PRIOR_S`."""
    slow = request.live.popular
    since = np.maximum(slow.ref_ts - request.live.first_taken.at(cands), 0.0)  # never: 0
    out = -np.expm1(-slow.rate * since) / slow.rate  # seconds out, decayed as the counts
    day = 86400.0
    rate = (slow.at(cands) + APPEAL_PRIOR_COUNT) / ((out + APPEAL_PRIOR_S) / day)
    return np.log1p(rate)


def appeal(request: Request, cands: np.ndarray) -> np.ndarray | None:
    """How often an item is taken for the time it has been out (:func:`_appeal`): a new
    item taken by many in its first days ranks with the lasting favourites, whose counts
    took months to build."""
    if not len(request.trending):
        return None
    return request.of_candidates(_appeal, cands)


def category_appeal(request: Request, cands: np.ndarray) -> np.ndarray | None:
    """:func:`appeal` times the user's latest items' share in the item's category
    (:func:`~pulserec.engine.sources.trending.recent_categories`): a category's
    favourites, new ones included."""
    share = request.of_candidates(_recent_share, cands)
    return None if share is None else request.of_candidates(_appeal, cands) * share


def recency(request: Request, cands: np.ndarray) -> np.ndarray | None:
    """How newly the item was published: ``1 / (1 + days since)`` by the catalog's
    ``created_at`` (:func:`~pulserec.engine.sources.newest.recency`); None where no
    candidate has a publication time."""
    col = request.of_candidates(_recency, cands)
    return col if col.any() else None


def category_recency(request: Request, cands: np.ndarray) -> np.ndarray | None:
    """:func:`recency` times the user's latest items' share in the item's category: what
    was just published in what the user reads now."""
    col = recency(request, cands)
    if col is None:
        return None
    share = request.of_candidates(_recent_share, cands)
    return None if share is None else col * share


def latest_knn(request: Request, cands: np.ndarray) -> np.ndarray | None:
    """log(1 + the item's score among the users whose latest items are nearest to the
    user's, whatever the gaps): session-kNN where visits are days apart."""
    votes = request.signal(latest_votes)
    return None if votes is None else np.log1p(sparse_lookup(votes, cands))


FEATURES: tuple[Feature, ...] = (
    Feature("long_term", 1.0, long_term),
    Feature("short_term", 1.0, short_term),
    Feature("covisit", 1.0, covisit),
    Feature("text", 1.0, text),
    Feature("trending", 0.2, trending),
    Feature("penalty", -1.0, penalty, explains=False),
    Feature("sequential", 1.0, sequential),
    Feature("trending_fast", 0.0, trending_fast),
    Feature("session", 1.0, session),
    Feature("covisit_live", 1.0, covisit_live),
    Feature("fresh_trending", 0.0, fresh_trending),
    Feature("live_ctr", 0.0, live_ctr),
    Feature("category_trending", 0.0, category_trending),
    Feature("latest_knn", 0.0, latest_knn),
    Feature("popular", 0.0, popular),
    # its value alone: with its square and standing among the candidates too, the blend
    # gained on news (globo-like +9.6 %) but lost up to 1.2 % elsewhere (ml-100k); by its
    # value, globo-like +10.0 %, ml-100k -0.8 %, visits-like and shop-like level
    Feature("trending_now", 0.0, trending_now, value_only=True),
    # a category's lasting favourites: on generated logs whose items are drawn by a lasting
    # appeal within a topic, shop-like +6.4 %, visits-like +2.4 %; ml-100k -0.4 %
    Feature("category_popular", 0.0, category_popular),
    # the same counts by the filtered category of the user's next choice, beside the
    # recency shares (the blend weighs both): visits-like +2.0 %, its hot-set variant
    # +2.0 %; in place of the shares, ml-100k-like lost 1.7 %
    Feature("category_belief", 0.0, category_belief),
    # counts over the time an item has been out: where items keep arriving and each is
    # taken most in its first days (the fresh shape), +4.7 %
    Feature("appeal", 0.0, appeal),
    Feature("category_appeal", 0.0, category_appeal),
    # how newly an item was published, where the catalog says (with the `newest` source):
    # where half the items arrive late and age in a day, +14 %; ml-100k -0.3 %
    Feature("recency", 0.0, recency),
    Feature("category_recency", 0.0, category_recency),
)
"""Every ranking feature, in the order of the weight vector."""

NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)

TERMS: tuple[str, ...] = ("", ":sq", ":z")
"""The suffix of each term's weight name: the value, its square, its standardised value."""

BLEND_NAMES: tuple[str, ...] = tuple(name + term for term in TERMS for name in NAMES)
"""The name of every blend weight, in the order of :func:`terms`' columns."""

VALUE_ONLY: np.ndarray = np.r_[
    np.zeros(len(FEATURES), dtype=bool),
    np.tile([f.value_only for f in FEATURES], len(TERMS) - 1),
]
"""One bool per blend weight: the square and standardised terms of the features weighed
by their value alone (``Feature.value_only``), held at 0 by every fit."""

DEFAULT_WEIGHTS: np.ndarray = np.r_[
    [f.default_weight for f in FEATURES], np.zeros((len(TERMS) - 1) * len(FEATURES))
]
"""Used only until a model has been fitted on enough validation events: each feature's
value with its default weight, no square or standardised term."""


def terms(f: np.ndarray) -> np.ndarray:
    """The blend's columns for a feature matrix ``f`` (one row per candidate): ``f``, its
    square, and each column standardised over the rows (0 where a column is constant)."""
    if not len(f):
        return np.zeros((0, len(TERMS) * f.shape[1]))
    sd = f.std(axis=0)
    z = (f - f.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return np.concatenate([f, f * f, z], axis=1)


def per_feature(contrib: np.ndarray) -> np.ndarray:
    """Blend contributions (``terms(f) * weights``) summed back to one column per feature."""
    n = len(FEATURES)
    return contrib.reshape(len(contrib), len(TERMS), n).sum(axis=1)  # type: ignore[no-any-return]


def weight_slots(name: str) -> list[int]:
    """The positions in the blend's weights of every term of the feature ``name``."""
    j, n = NAMES.index(name), len(NAMES)
    return [j + t * n for t in range(len(TERMS))]


def feature_matrix(request: Request, cands: np.ndarray) -> np.ndarray:
    """The features of ``cands`` for this request: one row per candidate, one column per
    entry of :data:`FEATURES`."""
    f = np.zeros((len(cands), len(FEATURES)), dtype=np.float64)
    for j, feature in enumerate(FEATURES):
        col = feature.column(request, cands)
        if col is not None:
            f[:, j] = col
    return f
