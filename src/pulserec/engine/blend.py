"""The blend's weights fitted on held-out choices, and how well they rank them.

A refit replays its held-out window (:class:`~pulserec.engine.training.Fitter`) into
:class:`~pulserec.ranking.ChoiceData`: the candidates of each held-out event, their
feature terms, and the item the user chose. Here the weights are fitted on those choices
(everyone's, and per history segment), and rankings of them are measured: this refit's
Recall and NDCG (cross-fitted), the previous version's, and two engines compared on the
same events (the transformer's gate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pulserec.engine.features import BLEND_NAMES, DEFAULT_WEIGHTS, NAMES, VALUE_ONLY
from pulserec.engine.modelset import ModelSet
from pulserec.engine.segments import NAMES as SEGMENT_NAMES
from pulserec.ranking import (
    ChoiceData,
    chosen_ranks,
    cross_fitted_ranks,
    fit_weights,
    mixture_ranks,
    recall_ndcg,
)

QUALITY_K = 10
"""The list length of the validation Recall and NDCG a refit reports."""

MIN_QUALITY_LISTS = 20
"""Held-out choices below which a refit reports no Recall and NDCG: too few to read."""


def validation_quality(
    choices: ChoiceData,
    previous: ModelSet | None,
    random_state: int | None = 0,
    *,
    ranks: np.ndarray | None = None,
) -> dict[str, float]:
    """Recall@10 and NDCG@10 on the held-out choices, of this refit and of ``previous``.

    Every held-out choice counts, those whose item retrieval missed as misses. This
    refit's ranking weights are fitted on these very choices, so its figures are
    cross-fitted (each half ranked by weights fitted on the other half; ``ranks``, when
    given, are those ranks, made already). ``previous`` ranks the same candidates, with
    the same features, by its own weights: the two figures differ by what the new blend
    changed. Keys: ``recall@10``, ``ndcg@10``, ``previous_recall@10``,
    ``previous_ndcg@10``, ``validation_choices``.
    """
    n = len(choices) + choices.missed
    out = {"validation_choices": float(n)}
    if not enough_to_rank(choices):
        return out
    seed = 0 if random_state is None else random_state
    if ranks is None:
        ranks = cross_fitted_ranks(choices, DEFAULT_WEIGHTS, random_state=seed, fit=fit_blend)
    out["recall@10"], out["ndcg@10"] = recall_ndcg(ranks, choices.missed, QUALITY_K)
    if previous is not None and previous.features == BLEND_NAMES:
        before = (
            chosen_ranks(choices, previous.weights)
            if previous.crowd_weights is None
            else mixture_ranks(
                choices, previous.weights, previous.crowd_weights, previous.crowd_share
            )
        )
        recall, ndcg = recall_ndcg(before, choices.missed, QUALITY_K)
        out["previous_recall@10"], out["previous_ndcg@10"] = recall, ndcg
    return out


def enough_to_rank(choices: ChoiceData) -> bool:
    """Whether the held-out choices are enough to report a Recall and NDCG from."""
    return len(choices) + choices.missed >= MIN_QUALITY_LISTS and len(choices) >= 2


@dataclass(frozen=True)
class PairedGain:
    """Two engines' cross-fitted rankings of the same held-out events, compared."""

    gain: float
    """Mean over the events of NDCG@10 of ``a`` less that of ``b``."""
    se: float
    """Its standard error, the events paired."""
    ndcg_a: float
    ndcg_b: float
    ranks_a: np.ndarray
    ranks_b: np.ndarray


def paired_ndcg_gain(a: ChoiceData, b: ChoiceData, random_state: int = 0) -> PairedGain:
    """How much better ``a`` ranks the held-out events than ``b`` (both collected from the
    same events, each ranked by weights cross-fitted on its own lists): the mean over
    events of the difference in NDCG@10 (a missed event scores 0), and its standard error,
    the events paired (:func:`paired_gain`); each side's NDCG@10 and ranks with it."""
    ranks_a, ranks_b = (
        cross_fitted_ranks(d, DEFAULT_WEIGHTS, random_state=random_state, fit=fit_blend)
        for d in (a, b)
    )
    n = max(len(a) + a.missed, len(b) + b.missed)
    gain, se = paired_gain(ranks_a, a.events, ranks_b, b.events, n)
    _, ndcg_a = recall_ndcg(ranks_a, a.missed, QUALITY_K)
    _, ndcg_b = recall_ndcg(ranks_b, b.missed, QUALITY_K)
    return PairedGain(gain, se, ndcg_a, ndcg_b, ranks_a, ranks_b)


def paired_gain(
    ranks_a: np.ndarray, events_a: list[int], ranks_b: np.ndarray, events_b: list[int], n: int
) -> tuple[float, float]:
    """Mean and standard error over ``n`` events of the NDCG@10 difference between two
    rankings of the chosen items: ``ranks_*[j]`` (0-based) of the list from event
    ``events_*[j]``; an event either one lacks scores 0 there.

    Examples
    --------
    >>> g, se = paired_gain(np.array([0, 0]), [0, 1], np.array([0, 1, 0]), [0, 1, 2], 4)
    >>> round(g, 4), round(se, 4)  # differences 0, 1 - 1/log2(3), -1, 0
    (-0.1577, 0.2939)
    """
    gains = [
        dict(zip(events, np.where(r < QUALITY_K, 1.0 / np.log2(r + 2.0), 0.0).tolist(),
                 strict=True))
        for r, events in ((ranks_a, events_a), (ranks_b, events_b))
    ]  # fmt: skip
    held = sorted(set(gains[0]) | set(gains[1]))
    diff = np.zeros(max(n, len(held), 2))  # events neither ranking holds differ by 0
    diff[: len(held)] = [gains[0].get(e, 0.0) - gains[1].get(e, 0.0) for e in held]
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff)))


MIN_TERM_LISTS = 200
"""Held-out choices below which a blend is fitted on the features' values alone (their
square and standardised terms keep the prior's weight, 0 without one): three weights per
feature on a few dozen choices fit the noise (Douban's 27 held-out choices: replay
HitRate@10 .22 with the values alone, .17 with all three terms), a few hundred do not
(amazon-reviews' 333: MRR@10 .715 with the values alone, .723 with all three)."""


MIN_SUPPORT = 20
"""Held-out choices whose chosen item has a feature (a nonzero value) below which that
feature's weights are not fitted but keep the prior's: its default weight in everyone's
blend, everyone's weight in a segment's. A feature that the candidates carry but hardly
any chosen item does (the 1-hour count of items without a training event, the factor
score where the held-out users are new to the early models) has a likelihood that only
pushes its weight down, as far as the L2 penalty lets it (separation), or fits the few
choices that have it. On globo no chosen item the candidates held was new to the early
models, and the weight fitted on that took 11 on average off the score of the items new
since the cut that the replay's candidates held; on amazon-reviews 4 chosen items had a
factor score, and its square came out with a weight of 1,800."""


def unsupported(data: ChoiceData) -> np.ndarray:
    """One bool per column of ``data`` (the blend's, :data:`~pulserec.engine.features.
    BLEND_NAMES`, or the features' values alone): the terms of the features some
    candidate has (a nonzero value) but fewer than :data:`MIN_SUPPORT` chosen items have,
    and the square and standardised terms of the features weighed by value alone
    (:data:`~pulserec.engine.features.VALUE_ONLY`)."""
    n = len(NAMES)
    if not len(data):
        return VALUE_ONLY.copy()
    present = np.zeros(n, dtype=bool)
    chosen = np.zeros(n, dtype=np.int64)
    for f, at in zip(data.features, data.chosen, strict=True):
        present |= (f[:, :n] != 0).any(axis=0)
        chosen += f[at, :n] != 0
    thin = present & (chosen < MIN_SUPPORT)
    width = data.features[0].shape[1]
    held: np.ndarray = np.tile(thin, width // n) | VALUE_ONLY[:width]
    return held


def fit_blend(data: ChoiceData) -> tuple[np.ndarray, dict[str, float]]:
    """The blend's weights on held-out choices (:func:`~pulserec.ranking.fit_weights`),
    every term of every feature where there are :data:`MIN_TERM_LISTS` choices, the
    values alone where there are fewer; a feature too few chosen items have keeps its
    default weights (:data:`MIN_SUPPORT`). (A segment's weights are fitted with every
    term: their pull towards everyone's holds a thin segment, and on amazon-reviews the
    1-2 segment's 155 choices with every term gave MRR@10 .723 against .701 with the
    values alone.)"""
    if len(data) < MIN_TERM_LISTS:
        n = len(NAMES)
        data = ChoiceData(
            [np.c_[f[:, :n], np.zeros((len(f), f.shape[1] - n), f.dtype)] for f in data.features],
            data.chosen,
            data.segment,
            data.missed,
        )
    return fit_weights(data, DEFAULT_WEIGHTS, held=unsupported(data))


MIN_SEGMENT_LISTS = 100
"""Held-out choices of one history segment's users from which that segment's ranking
weights are fitted (pulled towards everyone's); a thinner segment ranks with everyone's.
Only item-side features speak for a user without events, and the weights everyone's
choices give fit users with histories."""


MIN_FIRST_CHECK = 20
"""Held-out choices of users without events from which weights fitted on users' first
choices before the window must rank them at least as well as everyone's weights do."""


def fit_segment_weights(
    choices: ChoiceData,
    weights: np.ndarray,
    metrics: dict[str, float],
    *,
    first: ChoiceData | None = None,
) -> np.ndarray | None:
    """One row of ranking weights per history segment (:mod:`pulserec.engine.segments`):
    fitted on that segment's held-out choices with everyone's ``weights`` as the prior
    (and everyone's weights for a feature the segment's chosen items hardly have,
    :data:`MIN_SUPPORT`), or everyone's where the segment has fewer than
    :data:`MIN_SEGMENT_LISTS` choices.

    ``first``: choices users made early, before the held-out window (their first, each
    ranked among the candidates of a user without events at that moment, and their second
    and third, each ranked for a user who had made only the choices before it; ``first``'s
    ``segment`` says which). Where the window holds too few choices of users without
    events, or with one or two items, that segment's weights are fitted on these early
    choices instead, and kept unless the window's own such choices (from
    :data:`MIN_FIRST_CHECK` on) rank worse by them than by everyone's weights: a log's
    early choices may not hold for its latest newcomers.
    None when no segment has its own. Counts go into ``metrics`` (``lists_<segment>``;
    for users without events ``first_choices`` and ``first_kept`` where their weights were
    fitted on early choices, and ``first_ndcg@10`` and ``everyone_ndcg@10`` where the
    window checked them; the same keys with ``early`` for users with one or two items)."""
    if len(choices.segment) != len(choices):
        return None
    rows = np.tile(np.asarray(weights, dtype=np.float64), (len(SEGMENT_NAMES), 1))
    own = False
    segment = np.asarray(choices.segment)
    early = np.asarray(first.segment) if first is not None else np.zeros(0, dtype=int)
    for j, name in enumerate(SEGMENT_NAMES):
        part = choices.subset((segment == j).tolist())
        metrics[f"lists_{name}"] = float(len(part))
        if len(part) >= MIN_SEGMENT_LISTS:
            # every term: the prior holds a thin segment near everyone's weights, and a
            # feature the segment's chosen items hardly have at everyone's
            rows[j], _ = fit_weights(part, DEFAULT_WEIGHTS, prior=weights, held=unsupported(part))
            own = True
        elif j in _EARLY_KEYS and first is not None:
            before = first.subset((early == j).tolist())
            kept = _early_weights(before, part, weights, metrics, _EARLY_KEYS[j])
            if kept is not None:
                rows[j], own = kept, True
    return rows if own else None


_EARLY_KEYS = {0: "first", 1: "early"}
"""The segments whose weights early choices before the window may give, and the word
their metrics' keys start with."""


def _early_weights(
    before: ChoiceData,
    window: ChoiceData,
    weights: np.ndarray,
    metrics: dict[str, float],
    key: str,
) -> np.ndarray | None:
    """Weights for one segment fitted on ``before`` (that segment's users' choices before
    the held-out window, everyone's ``weights`` as the prior), or None where there are too
    few of them or the ``window``'s choices of such users rank worse by them. Metrics'
    keys start with ``key``."""
    metrics[f"{key}_choices"] = float(len(before))
    metrics[f"{key}_kept"] = 0.0
    if len(before) < MIN_SEGMENT_LISTS:
        return None
    fitted, _ = fit_weights(before, DEFAULT_WEIGHTS, prior=weights, held=unsupported(before))
    if len(window) >= MIN_FIRST_CHECK:
        _, ndcg_before = recall_ndcg(chosen_ranks(window, fitted), window.missed, QUALITY_K)
        _, ndcg_all = recall_ndcg(chosen_ranks(window, weights), window.missed, QUALITY_K)
        everyone = "everyone_ndcg@10" if key == "first" else f"everyone_{key}_ndcg@10"
        metrics[f"{key}_ndcg@10"], metrics[everyone] = ndcg_before, ndcg_all
        if ndcg_before < ndcg_all:
            return None
    metrics[f"{key}_kept"] = 1.0
    return fitted
