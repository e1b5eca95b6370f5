"""What every group of settings shares: unknown names are errors, lists come
comma-separated, one default seed."""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict

DEFAULT_SEED: Final[int] = 2026
"""The seed of every random choice whose caller gives none (splits, samples, refits)."""


class Section(BaseModel):
    """A nested group of settings; an unknown name in it is an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


def split_commas(value: object) -> object:
    """A comma-separated string as its parts (blank ones dropped); anything else as is."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value
