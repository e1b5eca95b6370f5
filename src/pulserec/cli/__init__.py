"""The ``pulserec`` command line: a thin shell over the library.

One module per group of commands (:mod:`.evaluate`, :mod:`.replay`, :mod:`.serve`,
:mod:`.text`, :mod:`.importing`), what they share in :mod:`.common`; the commands are registered on
``app`` here, in the order ``pulserec --help`` lists them.
"""

from __future__ import annotations

import typer

from pulserec.cli.common import console, load_settings, or_default, setting_help
from pulserec.cli.evaluate import evaluate, train
from pulserec.cli.importing import import_items
from pulserec.cli.replay import replay
from pulserec.cli.serve import archive_events, export_events, serve, worker
from pulserec.cli.simulate import simulate
from pulserec.cli.text import keywords, similar_items
from pulserec.events.datasets import DATASETS

__all__ = ["DATASETS", "app", "console", "load_settings", "main", "or_default", "setting_help"]

app = typer.Typer(
    help="pulserec: recommendations that follow what each user is interested in right now.",
    no_args_is_help=True,
    add_completion=False,
)
app.command()(evaluate)
app.command()(train)
app.command()(replay)
app.command()(simulate)
app.command()(serve)
app.command()(worker)
app.command("export-events")(export_events)
app.command("archive-events")(archive_events)
app.command()(keywords)
app.command("similar-items")(similar_items)
app.command("import")(import_items)


def main() -> None:
    app()
