"""docs/configuration.md: its table is the one the settings model generates."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main

from pulserec.cli import app
from pulserec.config_doc import (
    BEGIN,
    END,
    SERVE_SHORTCUTS,
    main,
    render,
    settings_table,
    shown_default,
)
from pulserec.config_names import env_name, setting_names

PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_committed_table_is_the_generated_one() -> None:
    page = PAGE.read_text(encoding="utf-8")
    assert render(page) == page, (
        "docs/configuration.md is stale: run python -m pulserec.config_doc --write "
        "docs/configuration.md"
    )


def test_one_row_per_setting_with_its_variable() -> None:
    rows = settings_table().splitlines()[2:]
    assert len(rows) == len(setting_names())
    for row, name in zip(rows, setting_names(), strict=True):
        assert row.startswith(f"| `{name}` | `{env_name(name)}` |")
    assert not [row for row in rows if row.endswith("|  |")], "a setting has no description"


def test_serve_shortcuts_are_real_serve_options() -> None:
    serve = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    options = {opt for param in serve.params for opt in param.opts}
    assert set(SERVE_SHORTCUTS.values()) | {"--set"} <= options
    assert set(SERVE_SHORTCUTS) <= set(setting_names())


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "(none)"),
        ("", "(none)"),
        (True, "true"),
        (("ann", "text"), "ann,text"),
        ({"click": 1.0}, '{"click":1.0}'),
        (Path("a/b"), "a/b"),
        (0.85, "0.85"),
    ],
)
def test_defaults_are_shown_as_the_environment_writes_them(value: object, shown: str) -> None:
    assert shown_default(value) == shown


def test_cells_keep_angle_brackets_visible_outside_code() -> None:
    table = settings_table()
    assert "`<data_root>/<dataset>`" in table  # inside code: as is
    assert "<data_root>" not in table.replace("`<data_root>/<dataset>`", "")


def test_check_and_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "configuration.md"
    page.write_text(f"# Settings\n\n{BEGIN}\n| old |\n{END}\nafter\n", encoding="utf-8")
    assert main(["--check", str(page)]) == 1
    assert "stale" in capsys.readouterr().err
    assert main(["--write", str(page)]) == 0
    assert main(["--check", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert text.startswith("# Settings\n") and text.endswith(f"{END}\nafter\n")
    assert "| old |" not in text
    page.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(ValueError, match="markers"):
        render(page.read_text(encoding="utf-8"))
