"""Settings: one pydantic-settings model, environment prefix ``PULSEREC_``.

Defaults live here and nowhere else. Nested fields map with ``__``, e.g.
``PULSEREC_EVAL__K=20``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EvalSettings(BaseModel):
    """Defaults of ``pulserec evaluate``."""

    k: int = Field(10, ge=1, le=1000)
    protocol: str = "random811"
    models: str = "pop,itemknn,ease,als,bpr"
    seed: int = 2026


class Settings(BaseSettings):
    """Everything configurable in pulserec."""

    model_config = SettingsConfigDict(env_prefix="PULSEREC_", env_nested_delimiter="__")

    data_root: Path = Field(
        Path("../shared/data"), description="Folder holding the public datasets, one per subfolder."
    )
    artifacts_dir: Path = Field(Path("artifacts"), description="Where trained models are written.")
    eval: EvalSettings = EvalSettings()


def get_settings() -> Settings:
    """Read settings from the environment (never cached at import time)."""
    return Settings()
