"""``pulserec keywords`` and ``pulserec similar-items``: the text and item look-ups."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from pulserec.cli.common import (
    CacheDirOption,
    DataDirOption,
    EncoderOption,
    console,
    dataset_path,
    load_settings,
    or_default,
)
from pulserec.events.datasets import DATASETS


def keywords(
    text: Annotated[str, typer.Argument(help="Text in English or Chinese.")],
    k: Annotated[int, typer.Option(min=1, max=50, help="How many keywords.")] = 5,
    diversity: Annotated[float, typer.Option(min=0.0, max=1.0, help="MMR diversity.")] = 0.5,
    encoder: EncoderOption = None,
) -> None:
    """Key phrases of a text, scored by a language model and made diverse."""
    from pulserec.text import extract_keywords, make_encoder

    name = or_default(encoder, load_settings().encoder)
    for phrase, score in extract_keywords(text, make_encoder(name), k=k, diversity=diversity):
        console.print(f"{score:.3f}  {phrase}")


def similar_items(
    item_id: Annotated[str, typer.Argument(help="The item to find neighbours of.")],
    dataset: Annotated[
        str,
        typer.Option(
            help=f"demo (built in, English and Chinese) or one of: {', '.join(DATASETS)}."
        ),
    ] = "demo",
    data_dir: DataDirOption = None,
    k: Annotated[int, typer.Option(min=1, max=100, help="How many items.")] = 10,
    encoder: EncoderOption = None,
    cache_dir: CacheDirOption = None,
) -> None:
    """Items like ITEM_ID: co-visitation, factor and text similarity from a dataset."""
    from pulserec.catalog import Catalog
    from pulserec.engine import Engine
    from pulserec.evaluation.replay import to_events
    from pulserec.events import load_dataset
    from pulserec.text import CachedEncoder, make_encoder

    settings = load_settings()
    name = or_default(encoder, settings.encoder)
    cache = or_default(cache_dir, settings.embedding_cache_dir) / name
    engine = Engine(
        encoder=CachedEncoder(make_encoder(name), cache),
        config=settings.engine.to_engine_config(),
    )
    if dataset == "demo":
        from pulserec.demo import generate_history, load_demo_items

        items = load_demo_items()
        engine.upsert_items(items)
        history = generate_history(items)
    else:
        ds = load_dataset(dataset, dataset_path(settings, dataset, data_dir), verbose=False)
        engine.upsert_items(list(Catalog.from_frame(ds.items)))
        history = list(to_events(ds.events))
    if item_id not in engine.catalog:
        raise typer.BadParameter(f"unknown item id {item_id!r} in {dataset}", param_hint="ITEM_ID")
    engine.bootstrap(history)
    engine.train(fit_weights_on_valid=False)
    item = engine.catalog.get(item_id)
    table = Table(title=f"items similar to {item.title or item_id}")
    for col in ("item_id", "title", "score"):
        table.add_column(col)
    for s in engine.similar(item_id, k):
        table.add_row(s.item_id, engine.catalog.get(s.item_id).title, f"{s.score:.3f}")
    console.print(table)
