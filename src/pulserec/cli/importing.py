"""``pulserec import``: load an items table (JSON lines, CSV, TSV, Parquet) into a
deployment, through a running server's API or straight into its storage."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from pulserec.cli.common import console
from pulserec.types import Item


def plain(value: Any) -> Any:
    """A value read by pandas as JSON would hold it (numpy scalars and arrays unwrapped)."""
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def read_items(path: Path) -> list[Item]:
    """The items of a table (see :func:`pulserec.events.tables.load_items` for its columns)."""
    from pulserec.catalog import Catalog
    from pulserec.events.tables import load_items

    items = list(Catalog.from_frame(load_items(path)))
    return [
        Item(it.item_id, it.title, it.text, it.categories,
             {k: plain(v) for k, v in it.attributes.items()}, it.created_at)
        for it in items
    ]  # fmt: skip


def as_json(item: Item) -> dict[str, Any]:
    out: dict[str, Any] = {
        "item_id": item.item_id, "title": item.title, "text": item.text,
        "categories": list(item.categories), "attributes": item.attributes,
    }  # fmt: skip
    if item.created_at is not None:
        out["created_at"] = float(item.created_at)
    return out


def batches(items: Sequence[Item], size: int) -> Iterator[Sequence[Item]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def put_batch(url: str, key: str, items: Sequence[Item]) -> None:
    """PUT one batch to ``<url>/v1/items``; a ``typer.Exit`` after printing the 422's fields."""
    body = json.dumps({"items": [as_json(it) for it in items]}).encode()
    request = urllib.request.Request(
        url.rstrip("/") + "/v1/items", data=body, method="PUT",
        headers={"Content-Type": "application/json", "X-API-Key": key},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            answer.read()
    except urllib.error.HTTPError as exc:
        detail = json.loads(exc.read() or b"{}").get("detail", [])
        for error in detail:
            field = str(error.get("field") or "")
            if field.startswith("items."):  # the batch's position -> the item's id
                _, pos, *rest = field.split(".")
                field = ".".join([items[int(pos)].item_id, *rest])
            console.print(f"[red]{field}[/red]: {error.get('message')}")
        console.print(f"the server answered {exc.code}; nothing of this batch was written")
        raise typer.Exit(1) from None


def import_items(
    file: Annotated[Path, typer.Argument(help="items.jsonl, .csv, .tsv or .parquet.")],
    url: Annotated[
        str | None, typer.Option(help="A running server, e.g. http://127.0.0.1:8000.")
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            help="An API key with the ingest scope (with --url).", envvar="PULSEREC_API_KEY"
        ),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            help="Write into this storage instead (the server must be stopped, "
            "or read it back on its next start): sqlite:///path, redis://..."
        ),
    ] = None,
    batch: Annotated[int, typer.Option(min=1, max=1000, help="Items per request.")] = 500,
) -> None:
    """Add or replace the items of a table; every other column becomes a typed property.

    With --url each batch goes through the server's validation (a property of another
    type than the catalog's is refused, naming the item and the field) and the items
    are recommendable at once.
    """
    if (url is None) == (storage is None):
        raise typer.BadParameter("give either --url (a running server) or --storage")
    items = read_items(file)
    if url is not None:
        if not key:
            raise typer.BadParameter("--key (or PULSEREC_API_KEY) is needed with --url")
        for chunk in batches(items, batch):
            put_batch(url, key, chunk)
    else:
        from pulserec.control import Properties
        from pulserec.storage import open_storage

        assert storage is not None
        store = open_storage(storage)
        try:
            known = list(store.items())
            props = Properties()
            props.set(np.arange(len(known)), known)
            problems = props.conflicts(items)
            for pos, field, message in problems:
                console.print(f"[red]{items[pos].item_id}.{field}[/red]: {message}")
            if problems:
                console.print("nothing was written")
                raise typer.Exit(1)
            for chunk in batches(items, batch):
                store.upsert_items(chunk)
        finally:
            store.close()
    console.print(f"imported {len(items)} items from {file}")
