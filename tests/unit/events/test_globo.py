"""load_globo on tiny hourly click files with a known answer."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pulserec.catalog import Catalog
from pulserec.events import DataFormatError, Dataset, load_dataset, load_globo

HEADER = ("user_id,session_id,session_start,session_size,click_article_id,click_timestamp,"
          "click_environment,click_deviceGroup,click_os,click_country,click_region,"
          "click_referrer_type\n")
HOUR_0 = (
    # session 1000 of user 7, out of time order with the next session
    "7,1000123,1000000,2,501,1000500,4,3,20,1,20,2\n"
    "7,1000123,1000000,2,502,1000900,4,3,20,1,20,2\n"
    "8,1000200,1000200,2,501,1000300,4,1,17,1,25,1\n"
    "8,1000200,1000200,2,503,1000700,4,1,17,1,25,1\n"
)
HOUR_1 = (
    "9,4600001,4600000,3,502,4600100,4,3,2,1,21,2\n"
    "9,4600001,4600000,3,503,4700000,4,3,2,1,21,2\n"
    # stamped long after every session start: a late straggler
    "9,4600001,4600000,3,504,9999000,4,3,2,1,21,2\n"
)


def _write(folder: Path, hour_1: str = HOUR_1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "clicks_hour_000.csv").write_text(HEADER + HOUR_0, encoding="ascii")
    (folder / "clicks_hour_001.csv").write_text(HEADER + hour_1, encoding="ascii")
    return folder


def _rows(ds: Dataset) -> list[tuple[object, ...]]:
    columns = ["user_id", "item_id", "type", "timestamp", "event_id"]
    return list(ds.events[columns].itertuples(index=False, name=None))


def test_globo_clicks_in_time_order_with_sessions(tmp_path: Path) -> None:
    ds = load_globo(_write(tmp_path), verbose=False)
    assert ds.name == "globo"
    assert _rows(ds) == [
        ("8", "501", "click", 1000.3, "1000200:501"),
        ("7", "501", "click", 1000.5, "1000123:501"),
        ("8", "503", "click", 1000.7, "1000200:503"),
        ("7", "502", "click", 1000.9, "1000123:502"),
        ("9", "502", "click", 4600.1, "4600001:502"),
        ("9", "503", "click", 4700.0, "4600001:503"),
    ]
    assert ds.events["value"].isna().all() and ds.events["text"].isna().all()
    # 9999 s is more than an hour after the last session start (4600 s).
    assert (ds.report.rows_in, ds.report.rows_out) == (7, 6)
    assert ds.report.dropped == {"late_click": 1}


def test_globo_keeps_late_clicks_when_asked(tmp_path: Path) -> None:
    folder = _write(tmp_path)
    kept = load_globo(folder, late_after=None, verbose=False)
    assert _rows(kept)[-1] == ("9", "504", "click", 9999.0, "4600001:504")
    assert kept.report.dropped == {}
    wide = load_globo(folder, late_after=5399.0, verbose=False)
    assert wide.report.dropped == {}  # 9999 - 4600 = 5399 s is not beyond 5399 s
    with pytest.raises(ValueError, match="late_after"):
        load_globo(folder, late_after=-1.0, verbose=False)


def test_globo_items_have_no_text_and_not_their_id(tmp_path: Path) -> None:
    ds = load_globo(_write(tmp_path), verbose=False)
    items = ds.items
    assert items["item_id"].tolist() == ["501", "503", "502"]  # the straggler's 504 is gone
    assert items["title"].tolist() == ["", "", ""]
    assert items["text"].tolist() == ["", "", ""]
    assert items["attributes"].tolist() == [{}, {}, {}]
    assert all(math.isnan(t) for t in items["created_at"])
    assert Catalog.from_frame(items).get("501").text == ""


def test_globo_article_metadata_and_download_layout(tmp_path: Path) -> None:
    _write(tmp_path / "clicks")
    (tmp_path / "articles_metadata.csv").write_text(
        "article_id,category_id,created_at_ts,publisher_id,words_count\n"
        "501,281,900000,0,180\n503,7,950000,0,\n999,1,1,0,1\n",
        encoding="ascii",
    )
    ds = load_dataset("globo", tmp_path, verbose=False)
    items = ds.items.set_index("item_id")
    assert items.loc["501", "attributes"] == {
        "category_id": "281", "publisher_id": "0", "words_count": 180
    }
    assert items.loc["503", "attributes"]["words_count"] is None
    assert items.loc["501", "created_at"] == 900.0
    assert items.loc["502", "attributes"] == {}
    assert "999" not in items.index  # never clicked
    assert items["text"].eq("").all()


def test_globo_one_file_and_errors(tmp_path: Path) -> None:
    folder = _write(tmp_path)
    one = load_globo(folder / "clicks_hour_000.csv", verbose=False)
    assert len(one.events) == 4
    with pytest.raises(FileNotFoundError):
        load_globo(tmp_path / "nowhere", verbose=False)
    (folder / "clicks_hour_001.csv").write_text(HEADER.replace("user_id", "uid") + HOUR_1,
                                                 encoding="ascii")
    with pytest.raises(DataFormatError) as info:
        load_globo(folder, verbose=False)
    assert (info.value.path, info.value.line) == (str(folder / "clicks_hour_001.csv"), 1)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no clicks_hour_"):
        load_globo(empty, verbose=False)
