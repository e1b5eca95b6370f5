"""One settings tree: every engine knob reachable, defaults equal to the engine's own."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from pulserec.config import EngineSettings, Settings, StateSettings
from pulserec.config_names import (
    default_of,
    env_name,
    parse_assignments,
    setting_names,
    settings_with,
)
from pulserec.engine import EngineConfig
from pulserec.service.runtime import build_runtime, close_runtime
from pulserec.state.base import StateConfig


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No PULSEREC_* variable of the calling shell leaks into these tests."""
    import os

    for name in list(os.environ):
        if name.startswith("PULSEREC_"):
            monkeypatch.delenv(name)


def mirror_pairs() -> list[tuple[type[Any], type[BaseModel]]]:
    return [(EngineConfig, EngineSettings), (StateConfig, StateSettings)]


@pytest.mark.parametrize(("config", "settings"), mirror_pairs())
def test_every_config_field_is_a_setting_and_nothing_else(
    config: type[Any], settings: type[BaseModel]
) -> None:
    # a field added to the engine's dataclass without a setting fails here
    assert [f.name for f in dataclasses.fields(config)] == list(settings.model_fields)


@pytest.mark.parametrize(("config", "settings"), mirror_pairs())
def test_setting_defaults_equal_the_config_defaults(
    config: type[Any], settings: type[BaseModel]
) -> None:
    built, declared = config(), settings()
    for f in dataclasses.fields(config):
        if f.name == "state":
            continue  # compared as its own pair
        assert getattr(declared, f.name) == getattr(built, f.name), f.name
        assert settings.model_fields[f.name].description, f"{f.name} has no description"


def test_default_settings_build_the_default_engine_config() -> None:
    assert Settings().engine.to_engine_config() == EngineConfig()


def test_engine_knobs_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSEREC_ENGINE__N_CANDIDATES", "200")
    monkeypatch.setenv("PULSEREC_ENGINE__SOURCES", "ann, text")
    monkeypatch.setenv("PULSEREC_ENGINE__SEQUENTIAL_PARAMS", '{"n_epochs": 5}')
    monkeypatch.setenv("PULSEREC_ENGINE__STATE__HALF_LIFE_S", "60")
    monkeypatch.setenv("PULSEREC_ENGINE__STATE__TYPE_WEIGHTS", '{"click": 2, "skip": -1}')
    config = Settings().engine.to_engine_config()
    assert config.n_candidates == 200
    assert config.sources == ("ann", "text")
    assert config.sequential_params == {"n_epochs": 5}
    assert config.state.half_life_s == 60.0
    assert config.state.type_weights == {"click": 2.0, "skip": -1.0}
    assert config.n_factors == EngineConfig().n_factors  # the rest untouched


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PULSEREC_ENGINE__N_CANDIATES", "200", "engine.n_candiates"),
        ("PULSEREC_ENGINE__N_CANDIDATES", "0", "engine.n_candidates"),
        ("PULSEREC_ENGINE__SOURCES", "ann,news", "engine.sources"),
        ("PULSEREC_ENGINE__STATE__TYPE_WEIGHTS", '{"clik": 1}', "clik"),
        ("PULSEREC_ENGINE__SEQUENTIAL_PARAMS", '{"epochs": 1}', "epochs"),
        ("PULSEREC_EVAL__PROTOCOL", "kfold", "eval.protocol"),
    ],
)
def test_bad_environment_fails_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=message):
        Settings()


def test_old_sequential_variable_is_a_deprecated_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSEREC_SEQUENTIAL", "false")
    with pytest.warns(FutureWarning, match="PULSEREC_ENGINE__SEQUENTIAL"):
        settings = Settings()
    assert settings.engine.to_engine_config().sequential is False
    monkeypatch.setenv("PULSEREC_ENGINE__SEQUENTIAL", "true")
    with pytest.raises(ValidationError, match="disagree"):
        Settings()
    monkeypatch.setenv("PULSEREC_ENGINE__SEQUENTIAL", "false")
    with pytest.warns(FutureWarning):
        assert Settings().engine.sequential is False


def test_without_the_old_variable_nothing_warns() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Settings(engine={"sequential": False}).engine.sequential is False


def test_dotted_names_reach_every_leaf() -> None:
    names = setting_names()
    assert {"engine.n_candidates", "engine.state.type_weights", "limits.max_k", "eval.k"} <= set(
        names
    )
    assert "engine" not in names and "engine.state" not in names
    assert env_name("engine.state.half_life_s") == "PULSEREC_ENGINE__STATE__HALF_LIFE_S"
    assert default_of("engine.n_candidates") == 100
    assert default_of("engine.state.type_weights")["purchase"] == 3.0
    assert default_of("data_root") == Path("../shared/data")


def test_assignments_nest_and_parse_json_objects() -> None:
    assert parse_assignments(
        ["engine.n_candidates=200", 'engine.state.type_weights={"view": 1}', "port=9000"]
    ) == {
        "engine": {"n_candidates": "200", "state": {"type_weights": {"view": 1}}},
        "port": "9000",
    }


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("engine.n_candiates=3", r"no setting 'engine\.n_candiates'.*known: sources, n_candidates"),
        ("engine=3", "'engine' is a section"),
        ("engine.n_candidates.x=1", "engine.n_candidates has no parts"),
        ("n_candidates", "expected KEY=VALUE"),
        ("engine.state.type_weights=click:1", "engine.state.type_weights: expected a JSON object"),
        ("engine.n_candidates=many", r"engine\.n_candidates: Input should be a valid integer"),
        ("engine.recency_decay=1.5", r"engine\.recency_decay: Input should be less than"),
    ],
)
def test_bad_assignment_names_the_setting(assignment: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        settings_with([assignment])


def test_assignments_win_over_options_which_win_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PULSEREC_ENGINE__N_CANDIDATES", "50")
    monkeypatch.setenv("PULSEREC_ENGINE__N_FACTORS", "8")
    monkeypatch.setenv("PULSEREC_PORT", "9001")
    settings = settings_with(["engine.n_candidates=200"], port=9002, engine={"n_recent": 3})
    assert (settings.engine.n_candidates, settings.engine.n_factors) == (200, 8)
    assert (settings.engine.n_recent, settings.port) == (3, 9002)
    assert settings_with(["port=9003"], port=9002).port == 9003


def test_errors_never_print_api_keys() -> None:
    with pytest.raises(ValueError) as info:
        settings_with(["api_keys=k1:read", "sequential=true", "engine.sequential=false"])
    assert "disagree" in str(info.value) and "k1:read" not in str(info.value)


def test_service_builds_its_engine_from_the_settings(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        storage_url="memory://",
        encoder="hashing",
        engine={"n_candidates": 7, "sequential": False, "state": {"max_recent": 5}},
    )
    runtime = build_runtime(settings, None)
    try:
        config = runtime.engine.config
        assert (config.n_candidates, config.sequential, config.state.max_recent) == (7, False, 5)
        assert config.exact_threshold == EngineConfig().exact_threshold
    finally:
        close_runtime(runtime)
