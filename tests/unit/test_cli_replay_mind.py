"""``pulserec replay --dataset mind|mind-zh``: the impression-ranking report end to end."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pulserec.cli import app


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PULSEREC_"):
            monkeypatch.delenv(name)


def write_mind(root: Path) -> Path:
    """Four impressions an hour apart (two after a 50 % cut); English text for n1 only,
    Chinese text for n3 beside it."""
    folder = root / "mind"
    folder.mkdir()
    behaviors = [
        ("1", "u1", "11/09/2019 8:00:00 AM", "n1", "n1-0 n2-1 n3-0"),
        ("2", "u2", "11/09/2019 9:00:00 AM", "", "n2-1 n3-0"),
        ("3", "u3", "11/09/2019 10:00:00 AM", "", "n3-0 n4-1 n2-0"),
        ("4", "u1", "11/09/2019 11:00:00 AM", "n1", "n2-0 n4-1 n1-0"),
    ]
    (folder / "behaviors.tsv").write_text("".join("\t".join(r) + "\n" for r in behaviors))
    (folder / "news.tsv").write_text("n1\tnews\tus\tOld story\t\thttp://a\t[]\t[]\n")
    (root / "xmind-cmn-small-dev").mkdir()
    (root / "xmind-cmn-small-dev" / "news.tsv").write_text("nid\ttitle\tabstract\nn3\t新聞\t\n")
    return folder


@pytest.mark.parametrize(("dataset", "coverage"), [("mind", 1 / 6), ("mind-zh", 2 / 6)])
def test_replay_mind_reports_engine_on_off_and_popularity(
    tmp_path: Path, dataset: str, coverage: float
) -> None:
    folder = write_mind(tmp_path)
    out = tmp_path / "replay.json"
    result = CliRunner().invoke(app, [
        "replay", "--dataset", dataset, "--data-dir", str(folder), "--no-sequential",
        "--train-fraction", "0.5", "--output", str(out),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "no text encoder" in result.output
    payload = json.loads(out.read_text())
    assert (payload["dataset"], payload["encoder"], payload["sequential"]) == (
        dataset, "none", False)  # fmt: skip
    assert payload["candidates_with_text"] == pytest.approx(coverage)
    rows = {r["name"]: r["metrics"] for r in payload["results"]}
    assert list(rows) == ["realtime-on", "realtime-off", "popularity"]
    assert all(m["impressions"] == 2.0 for m in rows.values())
    # training clicks n1 1 (history), n2 2: the clicked n4 ranks below n2, then last
    assert rows["popularity"]["auc"] == pytest.approx(0.125)
