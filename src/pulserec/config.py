"""Settings: one pydantic-settings model, environment prefix ``PULSEREC_``.

Defaults live here and nowhere else. Nested fields map with ``__``, e.g.
``PULSEREC_EVAL__K=20`` or ``PULSEREC_LIMITS__MAX_BATCH=500``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class EvalSettings(BaseModel):
    """Defaults of ``pulserec evaluate``."""

    k: int = Field(10, ge=1, le=1000)
    protocol: str = "random811"
    models: str = "pop,itemknn,ease,als,bpr"
    seed: int = 2026


class LimitSettings(BaseModel):
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


class Settings(BaseSettings):
    """Everything configurable in pulserec."""

    model_config = SettingsConfigDict(env_prefix="PULSEREC_", env_nested_delimiter="__")

    data_root: Path = Field(
        Path("../shared/data"), description="Folder holding the public datasets, one per subfolder."
    )
    artifacts_dir: Path = Field(Path("artifacts"), description="Where trained models are written.")
    eval: EvalSettings = EvalSettings()

    # ---- the service
    data_dir: Path = Field(
        default=Path(".data"),
        description="The server's data directory: the SQLite database, model artifacts "
        "(<data_dir>/artifacts) and the embedding cache (<data_dir>/embeddings).",
    )
    storage_url: str | None = Field(
        default=None, description="Storage by URL; default sqlite:///<data_dir>/pulserec.db."
    )
    api_keys: SecretStr = Field(
        default=SecretStr(""),
        description='API keys with scopes, e.g. "key1:ingest+read+admin,key2:read".',
    )
    api_keys_file: Path | None = Field(
        default=None, description="A file of API keys, one 'key:scope+scope' per line, # comments."
    )
    encoder: str = Field(
        default="use-m3", description='Text encoder by name ("hashing" is a light test double).'
    )
    sequential: bool = Field(
        default=True,
        description="Fit the sequential transformer at each training run and rank with it "
        "(off: refits take seconds instead of minutes on large logs).",
    )
    host: str = Field(default="127.0.0.1", description="Address the server binds to.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port the server binds to.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed by CORS, comma-separated; empty turns CORS off.",
    )
    limits: LimitSettings = LimitSettings()
    # ---- bounds on what the server keeps (docs/service.md, "Security and privacy")
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
        description="Model versions kept in <data_dir>/artifacts after a refit or a user's "
        "deletion, the current one always among them; older ones are deleted.",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

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


def get_settings() -> Settings:
    """Read settings from the environment (never cached at import time)."""
    return Settings()
