"""``pulserec export-events``: the stored log's positive events in the Spark trainer's Parquet."""

from __future__ import annotations

import stat
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from pulserec.cli import app
from pulserec.storage import open_storage
from pulserec.types import Event


def test_export_events_writes_the_positive_events_of_the_storage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/p.db"
    store = open_storage(url)
    store.append(
        [
            Event("ana", "tea-1", "click", 10.0),
            Event("ana", "tea-2", "dislike", 11.0),
            Event("bo", "tea-2", "purchase", 12.0),
            Event("bo", "tea-3", "comment", 13.0, text="buy now!!!"),
        ],
        spam=[False, False, False, True],
    )
    store.close()
    out = tmp_path / "export" / "events.parquet"
    result = CliRunner().invoke(app, ["export-events", "--storage", url, "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 2 events" in result.output
    # the dislike is negative and the spam comment counts for nothing
    assert pq.read_table(out).to_pydict() == {
        "user_id": ["ana", "bo"],
        "item_id": ["tea-1", "tea-2"],
        "weight": [1.0, 1.0],
        "timestamp": [10.0, 12.0],
    }
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
