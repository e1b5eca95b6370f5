"""What the online loop needs of a served list besides its ranking: the exploration slot
of an experiment variant, and the novelty of what was shown."""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence

import numpy as np

from pulserec.engine.items import LiveItems
from pulserec.state.base import UserState

Ranked = tuple[np.ndarray, np.ndarray, list[str]]
"""Items (catalog indices), their scores and reasons, in list order."""

POOL = 50
"""Exploration draws from this many of the least shown items."""


def novelty(items: LiveItems, item_ids: Sequence[str]) -> float:
    """Mean self-information of items by their share of interactions (add-one)."""
    if not item_ids:
        return 0.0
    counts = items.interactions
    idx = items.catalog.id_map.lookup(list(item_ids))
    idx = idx[(idx >= 0) & (idx < len(counts))]
    if len(idx) == 0:
        return 0.0
    share = (counts[idx] + 1.0) / (float(counts.sum()) + len(counts))
    return float(-np.log2(share).mean())


def explore(
    items: LiveItems,
    shown: Mapping[str, float],
    state: UserState | None,
    user_id: str,
    ranked: Ranked,
    rate: float,
    *,
    salt: int = 0,
) -> Ranked:
    """Each position after the first shows, with chance ``rate``, one of the least
    ``shown`` items the user has not seen (epsilon-greedy exploration of under-exposed
    items). The draw varies per user, event count and ``salt``, and replays alike."""
    picked, scores, reasons = ranked
    n = len(items.catalog)
    if n == 0 or len(picked) < 2:
        return ranked
    seed = zlib.crc32(user_id.encode("utf-8", "surrogatepass"))
    rng = np.random.default_rng([seed, state.n_events if state else 0, salt])
    chosen = rng.random(len(picked)) < rate
    chosen[0] = False
    if not chosen.any():
        return ranked
    counts = dict(shown)
    exposure = np.zeros(n, dtype=np.float64)
    if counts:
        idx = items.catalog.id_map.lookup(list(counts))
        known = (idx >= 0) & (idx < n)
        exposure[idx[known]] = np.fromiter(counts.values(), np.float64, len(counts))[known]
    banned = set(picked.tolist()) | set(items.deleted)
    if state is not None:
        banned |= set(state.seen)
    exposure[list(banned)] = np.inf
    pool = np.argsort(exposure + rng.random(n), kind="stable")[:POOL]
    pool = pool[np.isfinite(exposure[pool])]
    picked, scores, reasons = picked.copy(), scores.copy(), list(reasons)
    for pos in np.flatnonzero(chosen)[: len(pool)]:
        picked[pos] = pool[0]
        pool = pool[1:]
        reasons[pos] = "exploration: an item few users have been shown yet"
    return picked, scores, reasons
