"""Settings: one pydantic-settings model, environment prefix ``PULSEREC_``.

Defaults live here and nowhere else: the service, the command line and the benchmarks read
them from this model. Nested fields map with ``__``, e.g. ``PULSEREC_EVAL__K=20``,
``PULSEREC_ENGINE__N_CANDIDATES=200`` or ``PULSEREC_ENGINE__STATE__HALF_LIFE_S=3600``;
``pulserec serve --set engine.n_candidates=200`` sets the same field from the command line
(:mod:`pulserec.config_names`). Values of JSON objects (``engine.state.type_weights``...) are
JSON in both places. An unknown nested name is an error, so a misspelt variable fails loudly
instead of being ignored. docs/configuration.md lists every setting; ``python -m
pulserec.config_doc --write docs/configuration.md`` regenerates its table.

Examples
--------
>>> settings = Settings(engine={"n_candidates": 200})
>>> settings.engine.n_candidates, settings.engine.state.half_life_s
(200, 21600.0)
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from pulserec.types import EVENT_TYPES

if TYPE_CHECKING:
    from pulserec.engine import EngineConfig
    from pulserec.state.base import StateConfig

DEFAULT_ENCODER: Final[str] = "use-m3"
"""The text encoder pulserec uses when the configuration names none."""

DEFAULT_SEED: Final[int] = 2026
"""The seed of every random choice whose caller gives none (splits, samples, refits)."""

ENV_PREFIX: Final[str] = "PULSEREC_"
ENV_NESTED_DELIMITER: Final[str] = "__"


class _Section(BaseModel):
    """A nested group of settings; an unknown name in it is an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class EvalSettings(_Section):
    """Defaults of ``pulserec evaluate`` and ``pulserec replay``."""

    k: int = Field(default=10, ge=1, le=1000, description="List length K of the offline metrics.")
    protocol: Literal["random811", "loo"] = Field(
        default="random811",
        description="Split of `pulserec evaluate`: random811 (per user 80/10/10 at random) "
        "or loo (time-ordered leave-one-out).",
    )
    models: str = Field(
        default="pop,itemknn,ease,als,bpr",
        description="Models `pulserec evaluate` runs, comma-separated.",
    )
    seed: int = Field(
        default=DEFAULT_SEED,
        description="Seed of the random split and of the replay's user sample.",
    )


class LimitSettings(_Section):
    """Bounds on what one HTTP request may carry; a request past any of them gets a 4xx."""

    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Largest request body.")
    max_batch: int = Field(default=1000, ge=1, description="Most events or items in one request.")
    max_text_len: int = Field(default=5000, ge=1, description="Longest text field, in characters.")
    max_id_len: int = Field(
        default=256, ge=1, description="Longest id (user, item, event, category)."
    )
    max_k: int = Field(default=100, ge=1, description="Longest list a read may ask for.")
    max_future_s: float = Field(
        default=86_400.0,
        ge=0.0,
        description="How far past the server clock an event timestamp may lie (clock skew).",
    )


class StateSettings(_Section):
    """The online user state's update rule (``pulserec.state.base.StateConfig``)."""

    half_life_s: float = Field(
        default=6 * 3600.0,
        gt=0.0,
        description="Half-life of the short-term interest vectors, in seconds between a "
        "user's events.",
    )
    event_decay: float = Field(
        default=0.85,
        ge=0.0,
        le=1.0,
        description="Further decay of short-term interest at each event, on top of the "
        "half-life: the newest event always counts most.",
    )
    max_recent: int = Field(
        default=50, ge=1, description="Latest items kept per user (the transformer reads them)."
    )
    max_seen: int = Field(
        default=2000, ge=1, description="Items remembered per user as seen, and so not recommended."
    )
    max_negatives: int = Field(
        default=500,
        ge=1,
        description="Items remembered per user as disliked, skipped or shown without a click.",
    )
    max_queries: int = Field(default=10, ge=1, description="Latest search queries kept per user.")
    impression_threshold: int = Field(
        default=3,
        ge=1,
        description="Impressions without engagement after which an item is pushed down.",
    )
    rating_slope: float = Field(
        default=0.35,
        ge=0.0,
        description="Weight a rating gains (loses) per star above (below) the user's mean.",
    )
    type_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "view": 0.5,
            "click": 1.0,
            "cart": 2.0,
            "purchase": 3.0,
            "rate": 1.0,
            "like": 2.0,
            "comment": 1.0,
            "search": 1.0,
            "dislike": -1.0,
            "skip": -0.3,
            "impression": 0.0,
        },
        description="How strongly each event type moves interest, a JSON object; negative "
        "pushes away. Types left out weigh 0.",
    )

    @field_validator("type_weights")
    @classmethod
    def _known_types(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - EVENT_TYPES)
        if unknown:
            raise ValueError(f"unknown event type(s) {unknown}; known: {sorted(EVENT_TYPES)}")
        return value

    def to_state_config(self) -> StateConfig:
        """The :class:`~pulserec.state.base.StateConfig` these settings describe."""
        from pulserec.state.base import StateConfig

        return StateConfig(**self.model_dump())


class EngineSettings(_Section):
    """How the engine retrieves, ranks and learns (``pulserec.engine.EngineConfig``)."""

    sources: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(
            "ann",
            "factor",
            "covisit",
            "sequential",
            "trending",
            "text",
            "trending_fast",
            "session",
            "category",
        ),
        description="Candidate sources, comma-separated (trending also fills in when the "
        "others find nothing).",
    )
    n_candidates: int = Field(
        default=100,
        ge=1,
        description="Candidates each source proposes per request, before ranking.",
    )
    n_factors: int = Field(default=64, ge=1, description="Size of the ALS user and item vectors.")
    als_regularization: float = Field(default=0.05, ge=0.0, description="L2 penalty of ALS.")
    als_alpha: float = Field(
        default=2.0, gt=0.0, description="ALS confidence per unit of interaction weight."
    )
    als_epochs: int = Field(default=15, ge=1, description="ALS sweeps per refit.")
    factor_trainer: Literal["implicit", "spark"] = Field(
        default="implicit",
        description="What fits the factor model at a refit: implicit, in the refitting "
        "process; or Spark MLlib on engine.spark_master, from the log exported to Parquet "
        "(needs pulserec[spark] and a Java runtime).",
    )
    spark_master: str = Field(
        default="local[2]",
        description="Spark master URL the factor model is fitted on with factor_trainer "
        "spark: local[N], spark://host:7077, yarn, k8s://...",
    )
    spark_dir: str = Field(
        default="",
        description="Folder the Parquet export and id maps are written to for Spark, at a "
        "path every executor reads (a shared mount on a cluster); empty: the system's "
        "temporary folder.",
    )
    spark_regularization: float = Field(
        default=0.1,
        ge=0.0,
        description="Spark ALS regParam. Spark scales it by each user's and item's "
        "interaction count, so it is not engine.als_regularization.",
    )
    covisit_window: int = Field(
        default=10, ge=1, description="Co-visitation pairs items at most this many events apart."
    )
    covisit_top_n: int = Field(
        default=100, ge=1, description="Co-visitation neighbours kept per item."
    )
    sequential: bool = Field(
        default=True,
        description="Fit the sequential transformer at each refit and rank with it (off: "
        "refits take seconds instead of minutes on large logs).",
    )
    sequential_min_events: int = Field(
        default=200,
        ge=0,
        description="Fewer positive events than this and no transformer is fitted.",
    )
    sequential_params: dict[str, Any] = Field(
        default_factory=lambda: {"n_threads": 1, "patience": 3},
        description="Arguments of the transformer (SequentialTransformer), a JSON object. One "
        "torch thread leaves a core to serving; patience 3 about halves a refit.",
    )
    sequential_cache_mb: float = Field(
        default=64.0,
        ge=0.0,
        description="Memory for the transformer's per-user states between a user's events "
        "(0: none).",
    )
    factor_cache_users: int = Field(
        default=20_000,
        ge=0,
        description="Users whose factor-source candidates are kept between their requests "
        "until the next refit (about 0.6 KB each at 100 candidates; 0: none).",
    )
    sequential_warm_start: bool = Field(
        default=False,
        description="Start a refit's final transformer from the one fitted for the validation "
        "window: about half the fit on ml-latest-small, but on a small shop it ranked new "
        "items by their text less well, so it is opt-in.",
    )
    sequential_gate: bool = Field(
        default=True,
        description="Keep the transformer only where it ranks the held-out events better: "
        "each refit ranks its validation window with and without it and leaves it out "
        "unless its NDCG@10 there is higher by more than one standard error of the paired "
        "difference (on short visits it can cost accuracy).",
    )
    n_recent: int = Field(
        default=10,
        ge=1,
        description="Latest items of a user that vote for co-visitation candidates.",
    )
    recency_decay: float = Field(
        default=0.85,
        gt=0.0,
        le=1.0,
        description="Each older recent item's co-visitation votes count this much less.",
    )
    trending_half_life_s: float = Field(
        default=3 * 86400.0,
        gt=0.0,
        description="Half-life of the live trending counts, in seconds.",
    )
    trending_fast_half_life_s: float = Field(
        default=3600.0,
        gt=0.0,
        description="Half-life of the fast trending counts (news, launches), in seconds.",
    )
    live_covisit_half_life_s: float = Field(
        default=86400.0,
        gt=0.0,
        description="Half-life of the co-visitation counts learned per event between refits.",
    )
    live_covisit_window: int = Field(
        default=5,
        ge=0,
        description="A user's previous items each positive event is paired with, online "
        "(0: no online co-visitation). Weighed apart from the refit's co-visitation, it "
        "took HitRate@10 from .2216 to .2244 on ml-100k and from .6608 to .6649 on a day "
        "of news clicks.",
    )
    session_gap_s: float = Field(
        default=1800.0,
        gt=0.0,
        description="Session-kNN: a user's positive event this many seconds after their "
        "previous one starts a new session.",
    )
    max_sessions: int = Field(
        default=50_000,
        ge=1,
        description="Session-kNN: most recent sessions (of all users) held in memory, at "
        "most 50 items each (about 400 bytes a session); the oldest leaves first.",
    )
    max_pending: int = Field(
        default=100_000,
        ge=0,
        description="Most (item, user) pairs remembered for items not yet in the catalog, so "
        "the users' states take those events in when the item arrives; past it the least "
        "recently touched items are forgotten (their events count at the next state rebuild).",
    )
    artifacts_keep: int = Field(
        default=3,
        ge=1,
        description="Model versions kept in the artifacts folder after a refit or a user's "
        "deletion, the current one always among them; older ones are deleted.",
    )
    train_window_s: float = Field(
        default=0.0,
        ge=0.0,
        description="A refit fits on the events of this many seconds back from the log's "
        "newest event only (0: the whole log), and reads only those from storage: it bounds "
        "the read, the fit and its held-out replay. Users with no event in the window leave "
        "the factor model.",
    )
    valid_fraction: float = Field(
        default=0.1,
        gt=0.0,
        lt=1.0,
        description="Newest share of the log held out at a refit to fit the ranking weights.",
    )
    max_fit_lists: int = Field(
        default=4000, ge=1, description="Most held-out lists the ranking weights are fitted on."
    )
    exact_threshold: int = Field(
        default=20_000,
        ge=0,
        description="Vector indexes search exactly below this many items, HNSW from it on.",
    )
    random_state: int = Field(
        default=DEFAULT_SEED, description="Seed of a refit (factor init, held-out sample)."
    )
    state: StateSettings = Field(
        default_factory=StateSettings, description="The online user state's update rule."
    )

    @field_validator("sources", mode="before")
    @classmethod
    def _split_sources(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from pulserec.engine.sources import SOURCES

        unknown = [name for name in value if name not in SOURCES]
        if unknown:
            raise ValueError(f"unknown source(s) {unknown}; known: {sorted(SOURCES)}")
        return value

    @field_validator("sequential_params")
    @classmethod
    def _transformer_arguments(cls, value: dict[str, Any]) -> dict[str, Any]:
        import inspect

        from pulserec.models.sequential import SequentialTransformer

        known = set(inspect.signature(SequentialTransformer).parameters)
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown argument(s) {unknown}; known: {sorted(known)}")
        return value

    def to_engine_config(self) -> EngineConfig:
        """The :class:`~pulserec.engine.EngineConfig` these settings describe."""
        from pulserec.engine import EngineConfig

        fields = self.model_dump(exclude={"state"})
        return EngineConfig(**fields, state=self.state.to_state_config())


class OnlineSettings(_Section):
    """Served lists, attribution of events to them, online metrics and experiments."""

    log_lists: bool = Field(
        default=True,
        description="Log every served list (one row per list) and attribute events to lists.",
    )
    attribution_window_s: float = Field(
        default=1800.0,
        gt=0.0,
        description="An event without a recommendation_id counts for the latest list served "
        "to its user at most this many seconds before it that contained its item.",
    )
    flush_s: float = Field(
        default=0.5, gt=0.0, description="Served lists are written to storage at least this often."
    )
    flush_batch: int = Field(
        default=500, ge=1, description="Served lists written to storage in one transaction."
    )
    max_buffer: int = Field(
        default=50_000,
        ge=1,
        description="Served lists waiting for their write; past it new ones are counted as "
        "dropped (never written, still attributed in this process).",
    )
    retention_s: float = Field(
        default=7 * 86400.0,
        gt=0.0,
        description="How far back online metrics reach (and are rebuilt from storage at start).",
    )
    lists_per_user: int = Field(
        default=50, ge=1, description="Latest served lists held in memory per user for attribution."
    )


class GcSettings(_Section):
    """The garbage collector of a server process (pulserec.service.heap)."""

    freeze_s: float = Field(
        default=30.0,
        ge=0.0,
        description="Seconds between moves of the surviving heap out of the collector's "
        "full passes (`gc.freeze`), which keeps those pauses short; 0 turns it off.",
    )
    settle_s: float = Field(
        default=3600.0,
        gt=0.0,
        description="Longest time between two full collections of the frozen heap (one "
        "also runs when new models are served), which free its garbage cycles.",
    )


ARCHIVE_DIR_REQUIRED: Final = (
    "log.archive_dir: required when log.retention_s > 0 (the folder the archived events "
    "are written to)"
)
"""What a log with a retention window and no archive folder is told, wherever it is met."""


class LogSettings(_Section):
    """How long the event log stays in Redis before it moves to Parquet files."""

    retention_s: float = Field(
        default=0.0,
        ge=0.0,
        description="On a redis:// storage, events older than this (by their timestamp) are "
        "written to Parquet files in log.archive_dir, then trimmed from Redis, by `pulserec "
        "worker` after each refit and by `pulserec archive-events`. Refits still read them; a "
        "user's real-time state restores from the events kept. 0 keeps every event in Redis "
        "(other storages refuse any other value).",
    )
    archive_dir: Path | None = Field(
        default=None,
        description="Folder of the archived events' Parquet files, needed when "
        "log.retention_s > 0. Recorded in Redis at the first archive run: every API host "
        "must see it at the same path (a shared mount), as a user's deletion rewrites it.",
    )
    archive_keep_s: float = Field(
        default=0.0,
        ge=0.0,
        description="The archive's retention: archived events older than this (by their "
        "timestamp) are deleted at the end of each archive run (0: kept for good). Must "
        "exceed log.retention_s. Refits then see only the events it keeps.",
    )

    @model_validator(mode="after")
    def _archive_needs_a_folder(self) -> Self:
        self.archive_folder()
        if self.archive_keep_s and not self.archive_keep_s > self.retention_s:
            raise ValueError(
                f"log.archive_keep_s: must exceed log.retention_s ({self.retention_s} s) or "
                f"be 0, got {self.archive_keep_s}"
            )
        return self

    def archive_folder(self) -> Path | None:
        """The folder the log's old events are archived to; None when ``retention_s`` is
        0 (nothing is archived). The one check of these two fields: these settings refuse
        a window without a folder, and the worker's archive run
        (:func:`pulserec.scaleout.archive_due`) and ``pulserec archive-events`` ask here
        (a hand-built ``model_construct`` skips the validation)."""
        if self.retention_s <= 0:
            return None
        if self.archive_dir is None:
            raise ValueError(ARCHIVE_DIR_REQUIRED)
        return self.archive_dir


class Settings(BaseSettings):
    """Everything configurable in pulserec."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_NESTED_DELIMITER
    )

    # ---- the command line
    data_root: Path = Field(
        default=Path("../shared/data"),
        description="Folder of the public datasets, one per subfolder: `--data-dir` of "
        "evaluate, train, replay and similar-items (and serve's `--dataset-dir`) defaults to "
        "`<data_root>/<dataset>`.",
    )
    artifacts_dir: Path = Field(
        default=Path("artifacts"),
        description="Where `pulserec train` writes a model: `<artifacts_dir>/<model>`.",
    )
    eval: EvalSettings = Field(default_factory=EvalSettings, description="Offline evaluation.")

    # ---- the service (and the engine of every command)
    data_dir: Path = Field(
        default=Path(".data"),
        description="The server's data directory: the SQLite database, model artifacts "
        "(`<data_dir>/artifacts`) and the embedding cache (`<data_dir>/embeddings`, which the "
        "command line uses too).",
    )
    storage_url: str | None = Field(
        default=None,
        description="Storage by URL (`memory://`, `sqlite:///path`, `redis://host:port/db`); "
        "none means `sqlite:///<data_dir>/pulserec.db`.",
    )
    api_keys: SecretStr = Field(
        default=SecretStr(""),
        description="API keys with scopes, e.g. `key1:ingest+read+admin,key2:read`; none: "
        "`pulserec serve` on a loopback address makes a development key.",
    )
    api_keys_file: Path | None = Field(
        default=None,
        description="A file of API keys, one `key:scope+scope` per line, `#` comments.",
    )
    encoder: str = Field(
        default=DEFAULT_ENCODER,
        description="Text encoder by name (docs/text-encoders.md); `hashing` is a light test "
        "double.",
    )
    engine: EngineSettings = Field(
        default_factory=EngineSettings, description="Retrieval, ranking and refits."
    )
    sequential: bool | None = Field(
        default=None,
        description="Deprecated alias of engine.sequential (PULSEREC_ENGINE__SEQUENTIAL); "
        "when set it sets engine.sequential, with a warning.",
    )
    host: str = Field(default="127.0.0.1", description="Address the server binds to.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port the server binds to.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed by CORS, comma-separated; empty turns CORS off.",
    )
    limits: LimitSettings = Field(
        default_factory=LimitSettings, description="Bounds on one HTTP request."
    )
    online: OnlineSettings = Field(
        default_factory=OnlineSettings,
        description="Served-list log, attribution and experiments.",
    )
    log: LogSettings = Field(
        default_factory=LogSettings,
        description="Retention of the event log in Redis, and its archive.",
    )
    gc: GcSettings = Field(
        default_factory=GcSettings, description="The server's garbage collector."
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        return _split_commas(value)

    @model_validator(mode="after")
    def _sequential_alias(self) -> Self:
        if self.sequential is None:
            return self
        if "sequential" in self.engine.model_fields_set and (
            self.engine.sequential != self.sequential
        ):
            raise ValueError(
                "sequential (PULSEREC_SEQUENTIAL) and engine.sequential "
                "(PULSEREC_ENGINE__SEQUENTIAL) disagree: set only engine.sequential"
            )
        warnings.warn(
            "PULSEREC_SEQUENTIAL is deprecated: set PULSEREC_ENGINE__SEQUENTIAL "
            "(or --set engine.sequential=...) instead",
            FutureWarning,
            stacklevel=2,
        )
        self.engine = self.engine.model_copy(update={"sequential": self.sequential})
        return self

    @property
    def resolved_storage_url(self) -> str:
        """``storage_url``, or the SQLite file inside ``data_dir`` when none is set."""
        if self.storage_url:
            return self.storage_url
        return f"sqlite:///{self.data_dir / 'pulserec.db'}"

    @property
    def service_artifacts_dir(self) -> Path:
        """Where the server writes and reads its model artifacts."""
        return self.data_dir / "artifacts"

    @property
    def embedding_cache_dir(self) -> Path:
        """The on-disk embedding cache of the server and the command line."""
        return self.data_dir / "embeddings"

    def dataset_dir(self, dataset: str) -> Path:
        """Where a public dataset is read from by default: ``<data_root>/<dataset>``."""
        return self.data_root / dataset


def get_settings(**overrides: Any) -> Settings:
    """Read settings from the environment (never cached at import time).

    ``overrides`` (nested dicts for sections) win over the environment, field by field.
    """
    return Settings(**overrides)


__all__ = [
    "DEFAULT_ENCODER",
    "DEFAULT_SEED",
    "EngineSettings",
    "EvalSettings",
    "LimitSettings",
    "LogSettings",
    "OnlineSettings",
    "Settings",
    "StateSettings",
    "get_settings",
]
