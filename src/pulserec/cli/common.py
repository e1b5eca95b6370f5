"""What the commands share: the console, the options several take, and how an option
falls back to its setting."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from pulserec.config_names import default_of, env_name

if TYPE_CHECKING:
    from pulserec.config import Settings

console = Console()

T = TypeVar("T")


def setting_help(text: str, setting: str) -> str:
    """Help of an option whose default is a setting: names the default and the variable.

    The built-in default is shown; the environment is read when the command runs.
    """
    return f"{text.rstrip('.')} (default {default_of(setting)}, or {env_name(setting)})."


# Options several commands share; each falls back to its setting when not given.
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        help="Local folder or file of the dataset (default <data_root>/<dataset>, data_root "
        f"being {default_of('data_root')} or PULSEREC_DATA_ROOT)."
    ),
]
CacheDirOption = Annotated[
    Path | None,
    typer.Option(
        help="Embedding cache folder, one subfolder per encoder (default <data_dir>/embeddings, "
        "data_dir being .data or PULSEREC_DATA_DIR)."
    ),
]
EncoderOption = Annotated[
    str | None, typer.Option(help=setting_help("Text encoder name.", "encoder"))
]
KOption = Annotated[
    int | None, typer.Option(min=1, max=1000, help=setting_help("List length K.", "eval.k"))
]
SequentialOption = Annotated[
    bool | None,
    typer.Option(
        help=setting_help("Fit the sequential transformer into the ranking.", "engine.sequential")
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Set any setting, e.g. --set engine.n_candidates=200 (repeatable; JSON for "
        "objects); see docs/configuration.md.",
    ),
]


def or_default(value: T | None, default: T) -> T:
    """An option's value, or its setting's when the option was not given."""
    return default if value is None else value


def load_settings(assignments: list[str] | None = None, **given: Any) -> Settings:
    """The settings: the environment, then the options ``given`` (None: not given), then
    ``--set`` assignments; a bad one is reported by its dotted name."""
    from pulserec.config_names import settings_with

    try:
        return settings_with(
            assignments or (), **{k: v for k, v in given.items() if v is not None}
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--set / PULSEREC_*") from None


def dataset_path(settings: Settings, dataset: str, data_dir: Path | None) -> Path:
    """``--data-dir``, or ``<data_root>/<dataset>``; fails when neither holds the data."""
    if data_dir is not None:
        return data_dir
    path = settings.dataset_dir(dataset)
    if not path.exists():
        raise typer.BadParameter(
            f"no {dataset} data at {path}: pass --data-dir, or set PULSEREC_DATA_ROOT to the "
            f"folder holding {dataset}/",
            param_hint="--data-dir",
        )
    return path
