"""The replay command on a small slice of real data: every method on the same events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pulserec.cli import app

pytestmark = pytest.mark.integration

METHODS = [
    "realtime-on", "realtime-off", "popularity", "trending", "trending-1h", "trending-10m",
    "session-knn",
]  # fmt: skip


def test_replay_command_reports_every_method_on_the_same_events(
    dataset_dir, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    out, png = tmp_path / "replay.json", tmp_path / "curve.png"
    args = [
        "replay", "--dataset", "amazon-reviews",
        "--data-dir", str(dataset_dir("amazon-all-beauty-5core-2018")),
        "--realtime", "both", "--no-sequential", "--max-users", "60",
        "--session-gap", "0", "--reflect-sample", "20",
        "--output", str(out), "--plot", str(png),
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert [r["name"] for r in report["results"]] == METHODS
    n = report["scored_events"]
    assert n > 50 and report["users"] == 60
    for r in report["results"]:
        assert r["metrics"]["events"] == n
        assert 0.0 <= r["metrics"]["mrr@10"] <= r["metrics"]["hit@10"] <= 1.0
    for part in ("history", "item_age"):
        assert sum(g["events"] for g in report["breakdown"][part].values()) == n
    assert sum(report["prequential"]["events"]) == n
    short = ("trending-1h", "trending-10m")
    assert set(report["ratios"]) == {f"on/{m}" for m in [*METHODS[1:], "best-trending"]
                                     if m not in short}  # fmt: skip
    assert report["reflect"]["realtime-on"]["events"] == 20
    assert report["baselines"]["session_gap_s"] is None
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "session-kNN (+ trending fill)" in result.output and "on/session-knn" in result.output
