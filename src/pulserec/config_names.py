"""Settings by dotted name: ``engine.state.half_life_s`` and its variable, default and value.

The command line's ``--set NAME=VALUE`` and docs/configuration.md both address settings
this way; the names, types and defaults all come from :class:`pulserec.config.Settings`.

Examples
--------
>>> env_name("engine.n_candidates")
'PULSEREC_ENGINE__N_CANDIDATES'
>>> settings_with(["engine.n_candidates=200"]).engine.n_candidates
200
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, get_origin

from pydantic import BaseModel, ValidationError

from pulserec.config import ENV_NESTED_DELIMITER, ENV_PREFIX, Settings, get_settings


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The settings section an annotation names, if it names one."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def setting_names(model: type[BaseModel] = Settings, prefix: str = "") -> list[str]:
    """Every leaf setting by dotted name (``engine.state.half_life_s``), in field order."""
    names: list[str] = []
    for name, info in model.model_fields.items():
        section = _model_of(info.annotation)
        if section is not None:
            names += setting_names(section, f"{prefix}{name}.")
        else:
            names.append(prefix + name)
    return names


def env_name(dotted: str) -> str:
    """The environment variable of a dotted setting: ``engine.n_candidates`` →
    ``PULSEREC_ENGINE__N_CANDIDATES``."""
    return ENV_PREFIX + ENV_NESTED_DELIMITER.join(dotted.split(".")).upper()


def field_info(dotted: str) -> Any:
    """The pydantic ``FieldInfo`` of a dotted setting; ``KeyError`` naming the unknown part."""
    model: type[BaseModel] = Settings
    parts = dotted.split(".")
    for depth, part in enumerate(parts):
        info = model.model_fields.get(part)
        where = ".".join(parts[:depth]) or "the top level"
        if info is None:
            known = ", ".join(model.model_fields)
            raise KeyError(f"no setting {dotted!r}: {part!r} is not in {where} (known: {known})")
        section = _model_of(info.annotation)
        if depth == len(parts) - 1:
            if section is not None:
                raise KeyError(f"{dotted!r} is a section: name one of its settings")
            return info
        if section is None:
            raise KeyError(f"no setting {dotted!r}: {'.'.join(parts[: depth + 1])} has no parts")
        model = section
    raise KeyError(f"no setting {dotted!r}")  # an empty name never reaches here


def default_of(dotted: str) -> Any:
    """The built-in default of a dotted setting (the environment is not read)."""
    info = field_info(dotted)
    return info.get_default(call_default_factory=True)


def _is_json(annotation: Any) -> bool:
    """Whether a command-line value of this type is written as JSON (objects)."""
    return get_origin(annotation) is dict or annotation is dict


def parse_assignments(assignments: Iterable[str]) -> dict[str, Any]:
    """``["engine.n_candidates=200", ...]`` as nested overrides for :func:`get_settings`.

    Names are checked against the settings model here, values when the settings are built
    (:func:`settings_with`); JSON objects (``engine.state.type_weights``) are parsed here.

    Raises
    ------
    ValueError
        For a malformed assignment or an unknown name (the message lists the known ones).
    """
    out: dict[str, Any] = {}
    for raw in assignments:
        key, sep, value = raw.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"{raw!r}: expected KEY=VALUE, e.g. engine.n_candidates=200")
        try:
            info = field_info(key)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        parsed: Any = value
        if _is_json(info.annotation):
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{key}: expected a JSON object, got {value!r} ({exc})") from None
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = parsed
    return out


def settings_with(assignments: Iterable[str] = (), **overrides: Any) -> Settings:
    """Settings from the environment, then ``overrides``, then ``KEY=VALUE`` assignments.

    Raises
    ------
    ValueError
        Naming each bad setting by its dotted name (``engine.n_candidates: Input should be
        greater than or equal to 1``).
    """
    merged = _deep_merge(overrides, parse_assignments(assignments))
    try:
        return get_settings(**merged)
    except ValidationError as exc:
        raise ValueError(describe_errors(exc)) from None


def describe_errors(exc: ValidationError) -> str:
    """A validation error as ``dotted.name: message`` lines."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if not loc:  # a check across fields: its input is every setting, secrets included
            lines.append(f"settings: {err['msg']}")
        elif err["type"] == "value_error" and msg.startswith(f"{loc}."):
            lines.append(msg)  # a section's check that names its field (log.archive_dir: ...)
        elif loc.startswith("api_keys"):
            lines.append(f"{loc}: {err['msg']}")
        else:
            lines.append(f"{loc}: {err['msg']} (got {err.get('input')!r})")
    return "; ".join(lines)


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
