"""``pulserec archive-events``: the Redis log's old events to Parquet, and clear refusals."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pulserec.cli import app
from pulserec.config import ARCHIVE_DIR_REQUIRED, LogSettings, Settings
from pulserec.storage import open_storage
from pulserec.types import Event


def test_archive_events_moves_the_old_events_once(
    redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    url = f"{redis_url}?prefix={redis_prefix}"
    store = open_storage(url)
    store.append([Event("ana", f"i{j}", "click", 1000.0 + j) for j in range(5)])
    args = ["archive-events", "--storage", url, "--retention-s", "86400",
            "--archive-dir", str(tmp_path)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "archived 5 events into 1 file(s)" in result.output
    assert [f.name for f in (tmp_path / redis_prefix).iterdir()] == [
        "events-00000000000000000001-00000000000000000005.parquet"
    ]
    assert [s.event.item_id for s in store.events()] == [f"i{j}" for j in range(5)]
    again = CliRunner().invoke(app, args)
    assert "archived 0 events" in again.output
    store.close()


def test_archive_events_refuses_sqlite_and_a_zero_window(tmp_path: Path) -> None:
    sqlite = f"sqlite:///{tmp_path}/p.db"
    result = CliRunner().invoke(
        app, ["archive-events", "--storage", sqlite, "--retention-s", "60",
              "--archive-dir", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 2 and "only a redis:// log is archived" in result.output
    nowhere = "redis://127.0.0.1:1/0"  # nothing listens: each refusal comes before connecting
    result = CliRunner().invoke(app, ["archive-events", "--storage", nowhere])
    assert result.exit_code == 2 and "log.retention_s: 0 archives nothing" in result.output
    result = CliRunner().invoke(
        app, ["archive-events", "--storage", nowhere, "--archive-dir", str(tmp_path)]
    )
    assert result.exit_code == 2 and "log.retention_s: 0 archives nothing" in result.output
    result = CliRunner().invoke(
        app, ["archive-events", "--storage", nowhere, "--retention-s", "60"]
    )
    text = " ".join(result.output.replace("│", " ").split())
    assert result.exit_code == 2 and ARCHIVE_DIR_REQUIRED in text  # the worker's message
    assert "Value error" not in text


def test_archive_events_makes_the_workers_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings that skipped validation (built by hand) meet the same check and message
    as the worker's archive run (``LogSettings.archive_folder``), before any connection."""
    serve = importlib.import_module("pulserec.cli.serve")  # the package's `serve` is the command

    unchecked = Settings(data_dir=tmp_path).model_copy(
        update={"log": LogSettings.model_construct(retention_s=60.0, archive_dir=None)}
    )
    monkeypatch.setattr(serve, "load_settings", lambda *args, **kwargs: unchecked)
    result = CliRunner().invoke(app, ["archive-events", "--storage", "redis://127.0.0.1:1/0"])
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert text.startswith(f"{ARCHIVE_DIR_REQUIRED}: pass --retention-s SECONDS and --archive-dir")


def test_a_server_on_sqlite_refuses_a_retention_it_would_not_apply(tmp_path: Path) -> None:
    from pulserec.service.runtime import build_runtime

    settings = Settings(
        data_dir=tmp_path, log={"retention_s": 3600.0, "archive_dir": tmp_path / "a"}
    )
    with pytest.raises(ValueError, match=r"log\.retention_s: only a redis:// log"):
        build_runtime(settings, on_empty=None)
    assert not (tmp_path / "pulserec.db").exists()
