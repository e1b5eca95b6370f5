"""``pulserec import``: an items table into a storage, or through a server's API."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from pulserec.cli import app
from pulserec.storage import open_storage
from pulserec.types import Item


def write_items(path: Path) -> Path:
    pd.DataFrame(
        {"item_id": ["m1", "m2", "m3"], "title": ["Mug", "Cup", "Jug"],
         "categories": ["kitchen|mugs", "kitchen", ""], "price": [4.5, 12.0, 30.0],
         "brand": ["acme", "zen", "acme"], "stock": [True, False, True],
         "launch": ["2026-01-05", "2026-02-01", "2026-03-01"]}
    ).to_parquet(path)  # fmt: skip
    return path


def test_a_table_goes_into_storage_with_typed_properties(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/p.db"
    result = CliRunner().invoke(
        app, ["import", str(write_items(tmp_path / "items.parquet")), "--storage", url]
    )
    assert result.exit_code == 0, result.output
    items = {it.item_id: it for it in open_storage(url).items()}
    assert items["m1"].categories == ("kitchen", "mugs") and items["m1"].title == "Mug"
    assert items["m2"].attributes == {"price": 12.0, "brand": "zen", "stock": False,
                                      "launch": "2026-02-01"}  # fmt: skip
    assert type(items["m2"].attributes["stock"]) is bool


def test_a_clash_with_the_stored_catalog_writes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/p.db"
    open_storage(url).upsert_items([Item("old", attributes={"brand": 7})])
    result = CliRunner().invoke(
        app, ["import", str(write_items(tmp_path / "items.parquet")), "--storage", url]
    )
    assert result.exit_code == 1
    assert "m1.attributes.brand: expected a number (the property's type), got a string" in (
        " ".join(result.output.split())
    )
    assert [it.item_id for it in open_storage(url).items()] == ["old"]


def test_through_a_server_in_batches_naming_the_item_of_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[dict[str, Any]] = []

    def urlopen(request: urllib.request.Request, timeout: float) -> Any:
        body = json.loads(request.data)  # type: ignore[arg-type]
        sent.append({"url": request.full_url, "key": request.get_header("X-api-key"),
                     "ids": [it["item_id"] for it in body["items"]]})  # fmt: skip
        if len(sent) == 2:
            detail = {"detail": [{"field": "items.0.attributes.price", "message": "bad"}]}
            raise urllib.error.HTTPError(
                request.full_url, 422, "invalid", {},  # type: ignore[arg-type]
                io.BytesIO(json.dumps(detail).encode()),
            )  # fmt: skip
        return io.BytesIO(b'{"upserted": 2}')

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    result = CliRunner().invoke(
        app,
        ["import", str(write_items(tmp_path / "items.parquet")), "--url", "http://h:1/",
         "--key", "k1", "--batch", "2"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert sent == [
        {"url": "http://h:1/v1/items", "key": "k1", "ids": ["m1", "m2"]},
        {"url": "http://h:1/v1/items", "key": "k1", "ids": ["m3"]},
    ]
    assert "m3.attributes.price: bad" in result.output
