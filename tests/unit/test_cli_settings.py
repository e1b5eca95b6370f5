"""The command line takes its defaults from the settings, and --set reaches every setting."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pulserec.cli import app, setting_help


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PULSEREC_"):
            monkeypatch.delenv(name)


def write_events(path: Path) -> Path:
    """12 users with 8 clicks each over 16 items: enough for a random 8:1:1 split."""
    rows = ["user_id,item_id,timestamp"]
    for u in range(12):
        for j in range(8):
            rows.append(f"u{u},i{(u + 3 * j) % 16},{1_700_000_000 + 60 * (8 * u + j)}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_option_help_names_the_default_and_the_variable() -> None:
    text = setting_help("List length K.", "eval.k")
    assert text == "List length K (default 10, or PULSEREC_EVAL__K)."


def test_evaluate_reads_its_defaults_and_the_data_root_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_events(tmp_path / "csv")  # <data_root>/<dataset>
    monkeypatch.setenv("PULSEREC_DATA_ROOT", str(tmp_path))
    monkeypatch.setenv("PULSEREC_EVAL__K", "5")
    monkeypatch.setenv("PULSEREC_EVAL__MODELS", "pop")
    monkeypatch.setenv("PULSEREC_EVAL__SEED", "7")
    out = tmp_path / "results.json"
    result = CliRunner().invoke(
        app, ["evaluate", "--dataset", "csv", "--no-tune", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert (payload["k"], payload["seed"], payload["protocol"]) == (5, 7, "random811")
    assert [r["model"] for r in payload["results"]] == ["pop"]
    assert "recall@5" in payload["results"][0]["metrics"]


def test_a_missing_dataset_folder_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PULSEREC_DATA_ROOT", str(tmp_path))
    result = CliRunner().invoke(app, ["evaluate", "--dataset", "ml-100k", "--models", "pop"])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "no ml-100k data at" in text and "PULSEREC_DATA_ROOT" in text


def test_train_writes_under_the_artifacts_dir_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PULSEREC_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    data = write_events(tmp_path / "events.csv")
    result = CliRunner().invoke(
        app, ["train", "--dataset", "csv", "--data-dir", str(data), "--model", "pop"]
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "artifacts" / "pop" / "manifest.json").read_text())
    assert manifest["model"] == "pop"


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("engine.n_candiates=3", "no setting 'engine.n_candiates'"),
        ("engine.n_candidates=0", "engine.n_candidates: Input should be greater than"),
        ("engine.sources=ann,news", "engine.sources"),
    ],
)
def test_serve_refuses_a_bad_setting_before_it_opens_anything(
    tmp_path: Path, assignment: str, message: str
) -> None:
    result = CliRunner().invoke(
        app, ["serve", "--data-dir", str(tmp_path / "d"), "--set", assignment]
    )
    assert result.exit_code == 2
    assert message in " ".join(result.output.replace("│", " ").split())
    assert not (tmp_path / "d").exists()
