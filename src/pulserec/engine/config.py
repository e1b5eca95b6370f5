"""How the engine retrieves, ranks and learns: one dataclass, its defaults here only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pulserec.state.base import StateConfig

DEFAULT_SOURCES: tuple[str, ...] = ("ann", "factor", "covisit", "sequential", "trending", "text")
"""Candidate sources by name (see :mod:`pulserec.engine.sources`), each optional."""


@dataclass
class EngineConfig:
    """How the engine retrieves, ranks and learns. Defaults live here only."""

    sources: tuple[str, ...] = DEFAULT_SOURCES
    """Candidate sources by name, from :data:`pulserec.engine.sources.SOURCES`."""
    n_candidates: int = 100
    """Candidates each source contributes to one request."""
    n_factors: int = 64
    """Width of the factor model's user and item vectors."""
    als_regularization: float = 0.05
    als_alpha: float = 2.0
    als_epochs: int = 15
    covisit_window: int = 10
    """Events apart within which two items of one user's history count as visited together."""
    covisit_top_n: int = 100
    """Neighbours kept per item in the co-visitation table."""
    sequential: bool = True
    """Fit the sequential transformer at each training run and rank with its next-item score."""
    sequential_min_events: int = 200
    """Fewer positive events than this and no transformer is fitted (nothing to learn from)."""
    sequential_params: dict[str, Any] = field(
        default_factory=lambda: {"n_threads": 1, "patience": 3}
    )
    """Hyperparameters of the transformer. One torch thread leaves a core to serving; a
    patience of 3 epochs (10 offline) about halves a refit on ml-latest-small, where held-out
    NDCG@10 peaks by epoch 8-11 and then only wanders."""
    sequential_cache_mb: float = 64.0
    """Memory for the transformer's per-user scores between a user's events (0: none)."""
    n_recent: int = 10
    """The user's latest items that co-visitation and reasons read."""
    recency_decay: float = 0.85
    """Weight of each older recent item's co-visitation votes relative to the next newer."""
    trending_half_life_s: float = 3 * 86400.0
    valid_fraction: float = 0.1
    """Share of the log's timeline held out to fit the ranking weights at each refit."""
    max_fit_lists: int = 4000
    """Most candidate lists the ranking weights are fitted on."""
    exact_threshold: int = 20_000
    """Below this many items, vector search is exact; above, HNSW."""
    random_state: int = 2026
    state: StateConfig = field(default_factory=StateConfig)
