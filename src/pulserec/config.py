"""Settings: one pydantic-settings model, environment prefix ``PULSEREC_``.

Defaults live here (the engine's and the user state's in :mod:`pulserec.config_engine`)
and nowhere else: the service, the command line and the benchmarks read them from this
model. Nested fields map with ``__``, e.g. ``PULSEREC_EVAL__K=20``,
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
from typing import Annotated, Any, Final, Literal, Self

from pydantic import (
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from pulserec.config_base import DEFAULT_SEED, Section, split_commas
from pulserec.config_engine import EngineSettings, StateSettings

DEFAULT_ENCODER: Final[str] = "use-m3"
"""The text encoder pulserec uses when the configuration names none."""

ENV_PREFIX: Final[str] = "PULSEREC_"
ENV_NESTED_DELIMITER: Final[str] = "__"


class EvalSettings(Section):
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


class LimitSettings(Section):
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


class OnlineSettings(Section):
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


class GcSettings(Section):
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


class LogSettings(Section):
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
        return split_commas(value)

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
