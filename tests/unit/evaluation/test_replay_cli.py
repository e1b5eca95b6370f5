"""pulserec replay: bad options are refused before any data is read."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pulserec.cli import app


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["--realtime", "maybe"], "--realtime"),
        (["--protocol", "impressions"], "--protocol"),  # ml-100k has no impressions
        (["--protocol", "lists"], "--protocol"),
        (["--dataset", "synthetic:nope"], "--dataset"),
    ],
)
def test_bad_options_name_the_option(args: list[str], hint: str) -> None:
    result = CliRunner().invoke(app, ["replay", *args])
    assert result.exit_code == 2
    assert hint in result.output
