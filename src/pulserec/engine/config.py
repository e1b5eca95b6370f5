"""How the engine retrieves, ranks and learns: one dataclass.

Its defaults, their bounds and their meaning are written once, in
:class:`pulserec.config.EngineSettings` (environment ``PULSEREC_ENGINE__*``, ``--set
engine.*``); :meth:`~pulserec.config.EngineSettings.to_engine_config` builds this from
them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pulserec.config import EngineSettings
from pulserec.state.base import StateConfig

_DEFAULTS = EngineSettings()

DEFAULT_SOURCES: tuple[str, ...] = tuple(_DEFAULTS.sources)
"""Candidate sources by name (see :mod:`pulserec.engine.sources`)."""


@dataclass
class EngineConfig:
    """How the engine retrieves, ranks and learns; see :class:`pulserec.config.EngineSettings`."""

    sources: tuple[str, ...] = DEFAULT_SOURCES
    n_candidates: int = _DEFAULTS.n_candidates
    n_factors: int = _DEFAULTS.n_factors
    als_regularization: float = _DEFAULTS.als_regularization
    als_alpha: float = _DEFAULTS.als_alpha
    als_epochs: int = _DEFAULTS.als_epochs
    factor_trainer: str = _DEFAULTS.factor_trainer
    spark_master: str = _DEFAULTS.spark_master
    spark_dir: str = _DEFAULTS.spark_dir
    spark_regularization: float = _DEFAULTS.spark_regularization
    covisit_window: int = _DEFAULTS.covisit_window
    covisit_top_n: int = _DEFAULTS.covisit_top_n
    sequential: bool = _DEFAULTS.sequential
    sequential_min_events: int = _DEFAULTS.sequential_min_events
    sequential_params: dict[str, Any] = field(
        default_factory=lambda: dict(_DEFAULTS.sequential_params)
    )
    sequential_cache_mb: float = _DEFAULTS.sequential_cache_mb
    factor_cache_users: int = _DEFAULTS.factor_cache_users
    list_cache_ttl_s: float = _DEFAULTS.list_cache_ttl_s
    list_cache_users: int = _DEFAULTS.list_cache_users
    crowd_mixture: bool = _DEFAULTS.crowd_mixture
    text_topics: bool = _DEFAULTS.text_topics
    sequential_warm_start: bool = _DEFAULTS.sequential_warm_start
    sequential_gate: bool = _DEFAULTS.sequential_gate
    n_recent: int = _DEFAULTS.n_recent
    recency_decay: float = _DEFAULTS.recency_decay
    trending_half_life_s: float = _DEFAULTS.trending_half_life_s
    trending_fast_half_life_s: float = _DEFAULTS.trending_fast_half_life_s
    trending_now_half_life_s: float = _DEFAULTS.trending_now_half_life_s
    popular_half_life_s: float = _DEFAULTS.popular_half_life_s
    live_covisit_half_life_s: float = _DEFAULTS.live_covisit_half_life_s
    live_covisit_window: int = _DEFAULTS.live_covisit_window
    session_gap_s: float = _DEFAULTS.session_gap_s
    max_sessions: int = _DEFAULTS.max_sessions
    max_pending: int = _DEFAULTS.max_pending
    artifacts_keep: int = _DEFAULTS.artifacts_keep
    train_window_s: float = _DEFAULTS.train_window_s
    valid_fraction: float = _DEFAULTS.valid_fraction
    max_fit_lists: int = _DEFAULTS.max_fit_lists
    exact_threshold: int = _DEFAULTS.exact_threshold
    random_state: int = _DEFAULTS.random_state
    state: StateConfig = field(default_factory=StateConfig)
