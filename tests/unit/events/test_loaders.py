"""Loaders on tiny files with a known answer, and every malformed case."""

from __future__ import annotations

import gzip
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pulserec.events import (
    DATASETS,
    EVENT_COLUMNS,
    ITEM_COLUMNS,
    MOVIELENS_NAMES,
    DataFormatError,
    Dataset,
    DatasetSpec,
    download_movielens,
    load_amazon_reviews,
    load_dataset,
    load_mind,
    load_mind_impressions,
    load_movielens,
    load_movielens_100k,
    load_movielens_dat,
    load_movielens_latest,
    load_table,
)


def _rows(ds: Dataset, *columns: str) -> list[tuple[Any, ...]]:
    return list(ds.events[list(columns)].itertuples(index=False, name=None))


def _epoch(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


# --------------------------------------------------------------------------- MovieLens 100K


def _flags(*on: int) -> str:
    return "|".join("1" if i in on else "0" for i in range(19))


def _write_ml100k(folder: Path, *, data: str | None = None, item: bytes | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if data is None:
        data = (
            "1\t10\t4\t300\n"
            "2\t10\t5\t100\n"
            "1\t20\t6\t200\n"  # rating out of range
            "2\t20\tx\t250\n"  # rating not a number
            "1\t10\t4\t300\n"  # duplicate
            "3\t30\t1\t50\n"
        )
    if item is None:
        item = (
            f"10|Caf\xe9 (1995)|01-Jan-1995||http://imdb/10|{_flags(5, 8)}\n"
            f"20|Alien (1979)|||http://imdb/20|{_flags(1, 15)}\n"
            f"30|Odd (1990)|02-Feb-1990||http://imdb/30|{_flags(0)}\n"
        ).encode("latin-1")
    (folder / "u.data").write_text(data, encoding="ascii")
    (folder / "u.item").write_bytes(item)
    return folder


def test_ml100k_events_items_and_drops(tmp_path: Path) -> None:
    ds = load_movielens_100k(_write_ml100k(tmp_path / "ml-100k"), verbose=False)

    assert list(ds.events.columns) == list(EVENT_COLUMNS)
    assert _rows(ds, "user_id", "item_id", "type", "timestamp", "value") == [
        ("3", "30", "rate", 50.0, 1.0),
        ("2", "10", "rate", 100.0, 5.0),
        ("1", "10", "rate", 300.0, 4.0),
    ]
    assert ds.report.dropped == {"out_of_range_value": 2, "duplicate": 1}
    assert (ds.report.rows_in, ds.report.rows_out) == (6, 3)

    items = ds.items
    assert list(items.columns) == list(ITEM_COLUMNS)
    assert items["item_id"].tolist() == ["10", "20", "30"]
    assert items["title"].tolist() == ["Café (1995)", "Alien (1979)", "Odd (1990)"]
    assert items["categories"].tolist() == [("Comedy", "Drama"), ("Action", "Sci-Fi"), ("unknown",)]
    assert items["text"].iloc[0] == "Café (1995)\nGenres: Comedy, Drama"
    assert items["attributes"].iloc[0] == {"release_date": "01-Jan-1995", "imdb_url": "http://imdb/10"}
    assert items["created_at"].iloc[0] == _epoch(1995, 1, 1)
    assert math.isnan(items["created_at"].iloc[1])


def test_ml100k_genre_names_come_from_u_genre(tmp_path: Path) -> None:
    folder = _write_ml100k(tmp_path)
    names = list(
        ("unknown Action Adventure Animation Kids Comedy Crime Documentary Drama Fantasy "
         "Film-Noir Horror Musical Mystery Romance Sci-Fi Thriller War Western").split()
    )
    # Listed out of order on purpose: the id column decides the flag position.
    lines = [f"{name}|{i}" for i, name in enumerate(names)]
    (folder / "u.genre").write_text("\n".join(lines[::-1]) + "\n\n", encoding="ascii")
    item = f"10|Toons (1995)|||u|{_flags(3, 4)}\n".encode()
    (folder / "u.item").write_bytes(item)
    ds = load_movielens_100k(folder, verbose=False)
    assert ds.items["categories"].tolist() == [("Animation", "Kids")]


@pytest.mark.parametrize(
    ("data", "line", "field"),
    [
        ("1\t10\t4\t300\n1\t11\t4\t300\n1\t12\t4\t300\t9\n", 3, "timestamp"),
        ("1\t10\t4\t300\n1\t11\t4\n", 2, "timestamp"),
        ("1\t10\t4\t300\n1\t11\n", 2, "rating"),
        ("1\t10\t4\t300\n\n1\t11\t4\n", 3, "timestamp"),
        ("1\t10\t4\t300\r\n\r\n1\t11\t4\t300\r\n1\t12\t5\r\n", 4, "timestamp"),
    ],
)
def test_ml100k_wrong_field_count_names_line_and_field(
    tmp_path: Path, data: str, line: int, field: str
) -> None:
    folder = _write_ml100k(tmp_path, data=data)
    with pytest.raises(DataFormatError) as info:
        load_movielens_100k(folder, verbose=False)
    assert info.value.path == str(folder / "u.data")
    assert (info.value.line, info.value.field) == (line, field)
    assert f"u.data, line {line}, field '{field}'" in str(info.value)


def test_ml100k_bad_genre_flag(tmp_path: Path) -> None:
    item = f"10|A|||u|{_flags(1)}\n20|B|||u|0|2|{'|'.join(['0'] * 17)}\n".encode()
    folder = _write_ml100k(tmp_path, item=item)
    with pytest.raises(DataFormatError) as info:
        load_movielens_100k(folder, verbose=False)
    assert (info.value.line, info.value.field) == (2, "Action")
    assert "must be 0 or 1, got '2'" in str(info.value)


def test_ml100k_short_item_line(tmp_path: Path) -> None:
    item = f"10|A|||u|{'|'.join(['0'] * 18)}\n".encode()
    with pytest.raises(DataFormatError) as info:
        load_movielens_100k(_write_ml100k(tmp_path, item=item), verbose=False)
    assert (info.value.line, info.value.field) == (1, "Western")


def test_ml100k_missing_file_is_named(tmp_path: Path) -> None:
    folder = _write_ml100k(tmp_path)
    (folder / "u.item").unlink()
    with pytest.raises(FileNotFoundError) as info:
        load_movielens_100k(folder, verbose=False)
    assert info.value.filename == str(folder / "u.item")


def test_ml100k_accepts_a_file_inside_the_folder(tmp_path: Path) -> None:
    folder = _write_ml100k(tmp_path)
    assert len(load_movielens_100k(folder / "u.data", verbose=False).events) == 3


# --------------------------------------------------------------------------- MovieLens .dat


def test_movielens_dat(tmp_path: Path) -> None:
    (tmp_path / "ratings.dat").write_text(
        "1::10::4.5::100\n1::20::5.5::90\n2::10::0.5::80\n", encoding="ascii"
    )
    (tmp_path / "movies.dat").write_bytes(
        "10::Caf\xe9 (1995)::Comedy|Drama\n20::Heat (1995)::Action\n".encode("latin-1")
    )
    ds = load_movielens_dat(tmp_path, verbose=False)
    assert _rows(ds, "user_id", "item_id", "timestamp", "value") == [
        ("2", "10", 80.0, 0.5),
        ("1", "10", 100.0, 4.5),
    ]
    assert ds.report.dropped == {"out_of_range_value": 1}
    assert ds.items["title"].tolist() == ["Café (1995)", "Heat (1995)"]
    assert ds.items["categories"].tolist() == [("Comedy", "Drama"), ("Action",)]
    assert ds.items["text"].tolist() == [
        "Café (1995)\nGenres: Comedy, Drama",
        "Heat (1995)\nGenres: Action",
    ]


def test_movielens_dat_reads_tags_when_present(tmp_path: Path) -> None:
    (tmp_path / "ratings.dat").write_text("1::10::4::100\n", encoding="ascii")
    (tmp_path / "movies.dat").write_text("10::A (1995)::Drama\n", encoding="ascii")
    (tmp_path / "tags.dat").write_text("1::10::slow::5\n2::10::Slow::6\n", encoding="ascii")
    ds = load_movielens_dat(tmp_path, verbose=False)
    assert ds.items["attributes"].tolist() == [{"tags": ["slow"]}]
    assert ds.items["text"].tolist() == ["A (1995)\nGenres: Drama\nTags: slow"]


def test_movielens_dat_wrong_field_count(tmp_path: Path) -> None:
    (tmp_path / "ratings.dat").write_text("1::10::4::100\n1::20::5\n", encoding="ascii")
    (tmp_path / "movies.dat").write_text("10::A (1995)::Drama\n", encoding="ascii")
    with pytest.raises(DataFormatError) as info:
        load_movielens_dat(tmp_path, verbose=False)
    assert info.value.path.endswith("ratings.dat")
    assert (info.value.line, info.value.field) == (2, "timestamp")


# --------------------------------------------------------------------------- MovieLens latest


def _write_latest(folder: Path, ratings: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if ratings is None:
        ratings = "userId,movieId,rating,timestamp\r\n1,1,4.0,20\r\n1,2,0.5,10\r\n2,3,0.0,30\r\n"
    (folder / "ratings.csv").write_bytes(ratings.encode())
    (folder / "movies.csv").write_bytes(
        b"movieId,title,genres\r\n"
        b"1,Toy Story (1995),Adventure|Animation\r\n"
        b'2,"American President, The (1995)",Comedy|Drama\r\n'
        b"3,Nothing (2000),(no genres listed)\r\n"
    )
    (folder / "tags.csv").write_bytes(
        b"userId,movieId,tag,timestamp\r\n"
        b"5,1,pixar,10\r\n6,1,Pixar,11\r\n6,1,fun,12\r\n7,2, ,13\r\n7,99,ghost,14\r\n"
    )
    return folder


def test_movielens_latest_with_tags(tmp_path: Path) -> None:
    ds = load_movielens_latest(_write_latest(tmp_path / "ml-latest-small"), verbose=False)
    assert ds.name == "ml-latest-small"
    assert _rows(ds, "user_id", "item_id", "type", "value") == [
        ("1", "2", "rate", 0.5),
        ("1", "1", "rate", 4.0),
    ]
    assert ds.report.dropped == {"out_of_range_value": 1}
    items = ds.items
    assert items["title"].tolist() == [
        "Toy Story (1995)",
        "American President, The (1995)",
        "Nothing (2000)",
    ]
    assert items["categories"].tolist() == [("Adventure", "Animation"), ("Comedy", "Drama"), ()]
    assert items["attributes"].tolist() == [{"tags": ["pixar", "fun"]}, {"tags": []}, {"tags": []}]
    assert items["text"].tolist() == [
        "Toy Story (1995)\nGenres: Adventure, Animation\nTags: pixar, fun",
        "American President, The (1995)\nGenres: Comedy, Drama",
        "Nothing (2000)",
    ]
    # released: 1 January of the title's year
    assert items["created_at"].tolist() == [788918400.0, 788918400.0, 946684800.0]


def test_movielens_latest_without_tags_file(tmp_path: Path) -> None:
    folder = _write_latest(tmp_path)
    (folder / "tags.csv").unlink()
    ds = load_movielens_latest(folder, verbose=False)
    assert ds.items["text"].iloc[0] == "Toy Story (1995)\nGenres: Adventure, Animation"


def test_movielens_latest_wrong_header(tmp_path: Path) -> None:
    folder = _write_latest(tmp_path, "user,movie,rating,timestamp\n1,1,4.0,20\n")
    with pytest.raises(DataFormatError) as info:
        load_movielens_latest(folder, verbose=False)
    assert (info.value.line, info.value.field) == (1, None)
    assert "expected the header userId,movieId,rating,timestamp" in str(info.value)


def test_movielens_latest_extra_field(tmp_path: Path) -> None:
    folder = _write_latest(tmp_path, "userId,movieId,rating,timestamp\n1,1,4.0,20\n1,2,4,5,6\n")
    with pytest.raises(DataFormatError) as info:
        load_movielens_latest(folder, verbose=False)
    assert (info.value.line, info.value.field) == (3, "timestamp")
    assert "found 5 fields, expected 4" in str(info.value)


# --------------------------------------------------------------------------- MIND

_BEHAVIORS = (
    "1\tU1\t11/11/2019 9:00:00 AM\tN1 N2\tN10-1 N11-0\n"
    "2\tU2\t11/11/2019 8:00:00 AM\t\tN10-0 N12-1\n"
    "3\tU1\t11/10/2019 11:30:00 PM\tN1\tN13-0\n"
)
_NEWS = (
    'N10\tsports\tgolf\tTitle ten\tAbstract ten.\thttps://x/10\t[{"Label": "Golf"}]\t[]\n'
    "N11\tnews\tnewsus\tTitle eleven\t\thttps://x/11\t[]\t\n"
)


def _write_mind(folder: Path, behaviors: str = _BEHAVIORS, news: str = _NEWS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "behaviors.tsv").write_text(behaviors, encoding="utf-8")
    (folder / "news.tsv").write_text(news, encoding="utf-8")
    return folder


def test_mind_expands_history_and_impressions(tmp_path: Path) -> None:
    ds = load_mind(_write_mind(tmp_path), verbose=False)
    t0 = _epoch(2019, 11, 10, 23, 30)  # U1's first impression
    t8 = _epoch(2019, 11, 11, 8)
    t9 = _epoch(2019, 11, 11, 9)
    assert _rows(ds, "user_id", "item_id", "type", "timestamp", "event_id") == [
        ("U1", "N1", "click", t0 - 2, None),
        ("U1", "N2", "click", t0 - 1, None),
        ("U1", "N13", "impression", t0, "3:N13"),
        ("U2", "N10", "impression", t8, "2:N10"),
        ("U2", "N12", "click", t8, "2:N12"),
        ("U1", "N10", "click", t9, "1:N10"),
        ("U1", "N11", "impression", t9, "1:N11"),
    ]
    assert ds.events["value"].isna().all()
    assert ds.report.dropped == {}

    items = ds.items
    assert items["item_id"].tolist() == ["N10", "N11"]
    assert items["categories"].tolist() == [("sports", "golf"), ("news", "newsus")]
    assert items["text"].tolist() == ["Title ten\nAbstract ten.", "Title eleven"]
    assert items["attributes"].tolist() == [
        {"url": "https://x/10", "title_entities": [{"Label": "Golf"}], "abstract_entities": [],
         "lang": "en"},
        {"url": "https://x/11", "title_entities": [], "abstract_entities": [], "lang": "en"},
    ]


_ZH_NEWS = (
    "nid\ttitle\tabstract\n"
    "N10\t標題十\t摘要十\n"  # has English text: English wins
    "N12\t標題十二\t\n"
    "N13\t\t只有摘要\n"
    "N1\t\t\n"  # no text at all: stays bare
    "N99\t沒人看過\t\n"  # no event uses it: not added
    "N2\t標題二\t摘要二\n"
)


def test_mind_fills_missing_news_text_from_chinese_file(tmp_path: Path) -> None:
    mind = _write_mind(tmp_path / "mind")
    xmind = tmp_path / "xmind-cmn-small-dev"
    xmind.mkdir()
    (xmind / "news.tsv").write_text(_ZH_NEWS, encoding="utf-8")
    english = load_mind(mind, verbose=False)
    for zh_news in (True, xmind, xmind / "news.tsv", str(xmind)):
        ds = load_mind(mind, zh_news=zh_news, verbose=False)
        pd.testing.assert_frame_equal(ds.events, english.events)
        items = ds.items
        assert items["item_id"].tolist() == ["N10", "N11", "N12", "N13", "N2"]
        assert items["title"].tolist()[2:] == ["標題十二", "", "標題二"]
        assert items["text"].tolist() == [
            "Title ten\nAbstract ten.", "Title eleven", "標題十二", "只有摘要", "標題二\n摘要二"
        ]
        assert [a["lang"] for a in items["attributes"]] == ["en", "en", "zh", "zh", "zh"]
        assert items["attributes"].iloc[2] == {"lang": "zh"}
        assert items["categories"].iloc[2] == ()
    assert load_dataset("mind-zh", mind, verbose=False).items["item_id"].tolist()[-1] == "N2"
    assert len(load_mind(mind, zh_news=False, verbose=False).items) == 2


def test_mind_chinese_file_must_exist_when_asked_for(tmp_path: Path) -> None:
    mind = _write_mind(tmp_path / "mind")
    with pytest.raises(FileNotFoundError) as info:
        load_mind(mind, zh_news=True, verbose=False)
    assert info.value.filename == str(tmp_path / "xmind-cmn-small-dev")
    (tmp_path / "zh").mkdir()
    with pytest.raises(FileNotFoundError) as info:
        load_mind(mind, zh_news=tmp_path / "zh", verbose=False)
    assert info.value.filename == str(tmp_path / "zh" / "news.tsv")
    (tmp_path / "zh" / "news.tsv").write_text("id\ttitle\tabstract\nN2\tx\ty\n", "utf-8")
    with pytest.raises(DataFormatError, match="expected the header nid,title,abstract"):
        load_mind(mind, zh_news=tmp_path / "zh", verbose=False)


def test_mind_impressions(tmp_path: Path) -> None:
    behaviors = _BEHAVIORS + "4\tU3\t11/12/2019 1:00:00 PM\tN5\tN20 N21\n"
    impressions = load_mind_impressions(_write_mind(tmp_path, behaviors) / "behaviors.tsv")
    assert [(i.impression_id, i.user_id, i.timestamp, i.history, i.candidates)
            for i in impressions] == [
        ("1", "U1", _epoch(2019, 11, 11, 9), ["N1", "N2"], ["N10", "N11"]),
        ("2", "U2", _epoch(2019, 11, 11, 8), [], ["N10", "N12"]),
        ("3", "U1", _epoch(2019, 11, 10, 23, 30), ["N1"], ["N13"]),
        ("4", "U3", _epoch(2019, 11, 12, 13), ["N5"], ["N20", "N21"]),
    ]
    assert [i.labels.tolist() for i in impressions] == [[1, 0], [0, 1], [0], [-1, -1]]
    assert impressions[0].labels.dtype == np.int8
    # Unlabelled candidates (the MIND test split) give no events; the history still does.
    ds = load_mind(tmp_path, verbose=False)
    u3 = ds.events[ds.events["user_id"] == "U3"]
    assert list(u3[["item_id", "type", "timestamp"]].itertuples(index=False, name=None)) == [
        ("N5", "click", _epoch(2019, 11, 12, 13) - 1)
    ]
    assert not ds.events["item_id"].isin(["N20", "N21"]).any()


@pytest.mark.parametrize(
    ("behaviors", "news", "file", "line", "field"),
    [
        (_BEHAVIORS.replace("N12-1", "N12-2"), _NEWS, "behaviors.tsv", 2, "impressions"),
        (_BEHAVIORS.replace("N13-0", "-0"), _NEWS, "behaviors.tsv", 3, "impressions"),
        (_BEHAVIORS.replace("11/10/2019 11:30:00 PM", "2019-11-10 23:30"), _NEWS,
         "behaviors.tsv", 3, "time"),
        (_BEHAVIORS.replace("\tN1 N2\t", "\tN1 N2\tx\t"), _NEWS, "behaviors.tsv", 1,
         "impressions"),
        (_BEHAVIORS, _NEWS.replace("\t[]\t\n", "\t[oops\t\n"), "news.tsv", 2, "title_entities"),
        (_BEHAVIORS, _NEWS.replace("https://x/11\t", ""), "news.tsv", 2, "abstract_entities"),
    ],
)
def test_mind_malformed(
    tmp_path: Path, behaviors: str, news: str, file: str, line: int, field: str
) -> None:
    folder = _write_mind(tmp_path, behaviors, news)
    with pytest.raises(DataFormatError) as info:
        load_mind(folder, verbose=False)
    assert info.value.path == str(folder / file)
    assert (info.value.line, info.value.field) == (line, field)


def test_mind_missing_news_file(tmp_path: Path) -> None:
    folder = _write_mind(tmp_path)
    (folder / "news.tsv").unlink()
    with pytest.raises(FileNotFoundError) as info:
        load_mind(folder, verbose=False)
    assert info.value.filename == str(folder / "news.tsv")


# --------------------------------------------------------------------------- Amazon

_REVIEWS = [
    {"overall": 5.0, "reviewerID": "A", "asin": "P1", "unixReviewTime": 100, "summary": "Great",
     "reviewText": "Loved it", "style": {"Size:": "1"}},
    # The 2018 dump repeats a review per variant: the same event, another style.
    {"overall": 5.0, "reviewerID": "A", "asin": "P1", "unixReviewTime": 100, "summary": "Great",
     "reviewText": "Loved it", "style": {"Size:": "2"}},
    {"overall": 4.0, "reviewerID": "A", "asin": "P1", "unixReviewTime": 200,
     "summary": "Still good"},
    {"overall": 3.0, "reviewerID": "B", "asin": "P2", "unixReviewTime": 50, "reviewText": "Meh"},
    {"overall": 0.0, "reviewerID": "C", "asin": "P2", "unixReviewTime": 60, "summary": "x"},
    {"reviewerID": "D", "asin": "P3", "unixReviewTime": 70},
]


def _jsonl(records: list[dict[str, Any]]) -> str:
    lines = [json.dumps(r) for r in records]
    lines.insert(5, "")  # a blank line is skipped
    return "\n".join(lines) + "\n"


@pytest.fixture
def amazon_json(tmp_path: Path) -> Path:
    path = tmp_path / "Beauty_5.json"
    path.write_text(_jsonl(_REVIEWS), encoding="utf-8")
    return path


def test_amazon_reviews_json(amazon_json: Path) -> None:
    ds = load_amazon_reviews(amazon_json, verbose=False)
    events = ds.events
    assert events[["user_id", "item_id", "timestamp"]].values.tolist() == [
        ["B", "P2", 50.0], ["D", "P3", 70.0], ["A", "P1", 100.0], ["A", "P1", 200.0]
    ]
    assert events["type"].eq("comment").all()
    assert events["value"].tolist()[0] == 3.0
    assert math.isnan(events["value"].iloc[1])
    assert events["value"].tolist()[2:] == [5.0, 4.0]
    assert events["text"].tolist() == ["Meh", None, "Great\nLoved it", "Still good"]
    assert ds.report.dropped == {"out_of_range_value": 1, "duplicate": 1}
    assert ds.name == "Beauty_5"
    assert ds.items["item_id"].tolist() == ["P2", "P3", "P1"]
    assert ds.items["title"].tolist() == ["", "", ""]  # an id is not a title
    assert ds.items["text"].tolist() == ["", "", ""]


def test_amazon_reviews_gzip_and_folder(tmp_path: Path, amazon_json: Path) -> None:
    plain = load_amazon_reviews(amazon_json, verbose=False)
    folder = tmp_path / "gz"
    folder.mkdir()
    (folder / "Beauty_5.json.gz").write_bytes(gzip.compress(amazon_json.read_bytes()))
    (folder / "meta_Beauty.json.gz").write_bytes(gzip.compress(b'{"asin": "P1"}\n'))
    packed = load_amazon_reviews(folder, verbose=False)
    pd.testing.assert_frame_equal(packed.events, plain.events)
    assert packed.name == "Beauty_5"


def test_amazon_folder_must_hold_one_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_amazon_reviews(tmp_path, verbose=False)
    (tmp_path / "a.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "b.json.gz").write_bytes(gzip.compress(b"{}\n"))
    with pytest.raises(ValueError, match="several review files"):
        load_amazon_reviews(tmp_path, verbose=False)


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [('{"reviewerID": "A", ', "not valid JSON"), ("[1, 2]", "expected a JSON object")],
)
def test_amazon_malformed_line(tmp_path: Path, bad_line: str, message: str) -> None:
    lines = [json.dumps(r) for r in _REVIEWS[:2]]
    path = tmp_path / "r.json"
    path.write_text(lines[0] + "\n\n" + bad_line + "\n" + lines[1] + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=message) as info:
        load_amazon_reviews(path, verbose=False)
    assert (info.value.path, info.value.line, info.value.field) == (str(path), 3, None)


# --------------------------------------------------------------------------- generic tables

_MAPPING = {
    "user_id": "uid",
    "item_id": "sku",
    "timestamp": "when",
    "type": "action",
    "value": "stars",
    "text": "comment",
}


def test_table_csv_with_mapping_and_iso_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "shop.csv"
    path.write_text(
        "uid,sku,when,action,stars,comment\n"
        "u1,s1,2020-01-01T00:00:00Z,view,,\n"
        'u1,s2,1577836900,rate,4,"Nice, really"\n'
        'u2,s1,2020-01-01T01:00:00+01:00,purchase,,"multi\nline"\n'
        "u3,s3,not a time,view,,\n"
        "u4,s4,2020-01-01,view,,\n",
        encoding="utf-8",
    )
    ds = load_table(path, _MAPPING, verbose=False)
    assert ds.name == "shop"
    assert _rows(ds, "user_id", "item_id", "type", "timestamp", "text") == [
        ("u1", "s1", "view", 1577836800.0, None),
        ("u2", "s1", "purchase", 1577836800.0, "multi\nline"),
        ("u4", "s4", "view", 1577836800.0, None),
        ("u1", "s2", "rate", 1577836900.0, "Nice, really"),
    ]
    assert ds.events["value"].tolist()[3] == 4.0
    assert ds.report.dropped == {"invalid_timestamp": 1}
    assert ds.items["item_id"].tolist() == ["s1", "s4", "s2"]


def test_table_jsonl_default_type_and_identity_columns(tmp_path: Path) -> None:
    path = tmp_path / "clicks.jsonl"
    path.write_text(
        '{"user": 1, "item_id": "x", "ts": 5}\n{"user": 2, "item_id": 7, "ts": "3"}\n',
        encoding="utf-8",
    )
    ds = load_table(path, {"user_id": "user", "timestamp": "ts"}, verbose=False)
    assert _rows(ds, "user_id", "item_id", "type", "timestamp") == [
        ("2", "7", "click", 3.0),
        ("1", "x", "click", 5.0),
    ]


def test_table_parquet_with_datetimes(tmp_path: Path) -> None:
    path = tmp_path / "buys.parquet"
    pd.DataFrame(
        {
            "user_id": ["a", "b"],
            "item_id": ["i", "j"],
            "timestamp": pd.to_datetime(
                ["2020-01-01 00:00:10", "2020-01-01 00:00:00"]
            ).tz_localize("UTC"),
            "value": [19.99, 5.0],
        }
    ).to_parquet(path)
    ds = load_table(path, default_type="purchase", verbose=False)
    assert _rows(ds, "user_id", "item_id", "type", "timestamp", "value") == [
        ("b", "j", "purchase", 1577836800.0, 5.0),
        ("a", "i", "purchase", 1577836810.0, 19.99),
    ]


def test_table_format_override_and_gzip(tmp_path: Path) -> None:
    text = "user_id,item_id,timestamp\nu,i,1\n"
    (tmp_path / "events.txt").write_text(text, encoding="utf-8")
    (tmp_path / "events.csv.gz").write_bytes(gzip.compress(text.encode()))
    for ds in (
        load_table(tmp_path / "events.txt", fmt="csv", verbose=False),
        load_table(tmp_path / "events.csv.gz", verbose=False),
    ):
        assert _rows(ds, "user_id", "item_id", "type", "timestamp") == [("u", "i", "click", 1.0)]
    with pytest.raises(ValueError, match="cannot tell the format"):
        load_table(tmp_path / "events.txt", verbose=False)


def test_table_errors(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("uid,sku,when\nu,i,1\nu,i,2,3\n", encoding="utf-8")
    mapping = {"user_id": "uid", "item_id": "sku", "timestamp": "when"}
    with pytest.raises(DataFormatError) as info:
        load_table(path, mapping, verbose=False)
    assert (info.value.line, info.value.field) == (3, "when")

    path.write_text("uid,sku,when\nu,i,1\n", encoding="utf-8")
    with pytest.raises(DataFormatError) as info:
        load_table(path, {**mapping, "timestamp": "time"}, verbose=False)
    assert info.value.field == "time"
    assert "['uid', 'sku', 'when']" in str(info.value)
    with pytest.raises(DataFormatError) as info:
        load_table(path, {"user_id": "uid", "item_id": "sku"}, verbose=False)
    assert info.value.field == "timestamp"
    with pytest.raises(ValueError, match=r"unknown event field\(s\) \['when'\]"):
        load_table(path, {"when": "when"}, verbose=False)
    with pytest.raises(ValueError, match="default_type 'tap'"):
        load_table(path, mapping, default_type="tap", verbose=False)
    with pytest.raises(FileNotFoundError):
        load_table(tmp_path / "nope.csv", mapping, verbose=False)


def test_table_value_range(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("user_id,item_id,timestamp,type,value\nu,i,1,rate,3\nu,j,2,rate,11\n",
                    encoding="utf-8")
    ds = load_table(path, value_range=(1, 10), verbose=False)
    assert ds.report.dropped == {"out_of_range_value": 1}
    assert ds.events["item_id"].tolist() == ["i"]


def test_table_search_events_need_no_item_column(tmp_path: Path) -> None:
    path = tmp_path / "queries.jsonl"
    path.write_text(
        '{"user_id": "u", "type": "search", "text": "red shoes", "timestamp": 1}\n'
        '{"user_id": "u", "type": "click", "text": "", "timestamp": 2}\n',
        encoding="utf-8",
    )
    ds = load_table(path, verbose=False)
    assert _rows(ds, "user_id", "type", "text") == [("u", "search", "red shoes")]
    assert ds.events["item_id"].isna().all()
    assert ds.report.dropped == {"missing_item_id": 1}
    assert ds.items.empty


def test_empty_files_give_empty_datasets(tmp_path: Path) -> None:
    mind = _write_mind(tmp_path / "mind", behaviors="", news="")
    ds = load_mind(mind, verbose=False)
    assert (len(ds.events), len(ds.items)) == (0, 0)
    assert list(ds.events.columns) == list(EVENT_COLUMNS)
    assert load_mind_impressions(mind) == []
    csv_path = tmp_path / "header_only.csv"
    csv_path.write_text("user_id,item_id,timestamp\n", encoding="utf-8")
    assert load_table(csv_path, verbose=False).events.empty


# --------------------------------------------------------------------------- dispatch


def test_load_dataset_dispatch(tmp_path: Path) -> None:
    folder = _write_ml100k(tmp_path / "ml")
    assert len(load_dataset("ML-100K", folder, verbose=False).events) == 3
    csv_path = tmp_path / "e.csv"
    csv_path.write_text("a,b,c\nu,i,5\n", encoding="utf-8")
    ds = load_dataset("csv", csv_path, columns={"user_id": "a", "item_id": "b", "timestamp": "c"},
                      verbose=False)
    assert _rows(ds, "user_id", "item_id", "timestamp") == [("u", "i", 5.0)]
    with pytest.raises(ValueError, match=r"unknown dataset 'ml-5k'.*'ml-100k'.*'amazon-reviews'"):
        load_dataset("ml-5k", folder)
    with pytest.raises(ValueError, match="cannot be downloaded"):
        load_dataset("mind")


def test_registry_is_what_load_dataset_and_the_cli_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pulserec import cli

    assert cli.DATASETS is DATASETS
    assert all(spec.description for spec in DATASETS.values())
    assert {n for n, spec in DATASETS.items() if spec.downloadable} == set(MOVIELENS_NAMES)
    calls: list[tuple[Any, dict[str, Any]]] = []

    def load_toy(path: Any, **kwargs: Any) -> Dataset:
        calls.append((path, kwargs))
        return load_movielens_100k(path, verbose=False)

    monkeypatch.setitem(DATASETS, "toy", DatasetSpec(load_toy, "a toy"))
    folder = _write_ml100k(tmp_path)
    assert len(load_dataset("Toy", folder, verbose=False).events) == 3
    assert calls == [(folder, {"verbose": False})]
    with pytest.raises(ValueError, match=r"unknown dataset 'nope'.*'toy'"):
        load_dataset("nope", folder)


def test_load_movielens_picks_the_format_by_name(tmp_path: Path) -> None:
    assert len(load_movielens("ml-100k", _write_ml100k(tmp_path / "a"), verbose=False).events) == 3
    latest = load_movielens("ml-latest", _write_latest(tmp_path / "b"), verbose=False)
    assert latest.items["title"].iloc[0] == "Toy Story (1995)"
    with pytest.raises(ValueError, match="unknown MovieLens archive 'ml-5k'"):
        load_movielens("ml-5k", tmp_path)


def test_download_uses_the_cache_when_present(tmp_path: Path) -> None:
    extracted = _write_ml100k(tmp_path / "ml-100k" / "ml-100k")
    assert download_movielens("ml-100k", cache_dir=tmp_path) == extracted
    with pytest.raises(ValueError, match="unknown MovieLens archive"):
        download_movielens("ml-2m", cache_dir=tmp_path)


def test_verbose_prints_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _write_ml100k(tmp_path)
    load_movielens_100k(folder, verbose=False)
    assert capsys.readouterr().err == ""
    load_movielens_100k(folder)
    assert capsys.readouterr().err.strip() == (
        "ml-100k: read 6 rows, kept 3, dropped 3 (duplicate: 1, out_of_range_value: 2)"
    )


def test_an_items_table_beside_the_events_gives_their_text(tmp_path: Path) -> None:
    (tmp_path / "events.csv").write_text(
        "user_id,item_id,timestamp\nu1,tea-1,10\nu1,cup-9,20\nu2,ghost,30\n"
    )
    (tmp_path / "items.csv").write_text(
        "item_id,title,description,categories,price,created_at\n"
        'tea-1,Longjing,"A green tea, pan-fired",tea|green,12.5,2024-01-02T00:00:00\n'
        "cup-9,Gaiwan,,teaware,30,\n"
    )
    ds = load_table(tmp_path / "events.csv", verbose=False)
    items = ds.items.set_index("item_id")
    assert items.loc["tea-1", "title"] == "Longjing"
    assert items.loc["tea-1", "text"] == "A green tea, pan-fired"
    assert items.loc["tea-1", "categories"] == ("tea", "green")
    assert items.loc["tea-1", "attributes"] == {"price": "12.5"}
    assert items.loc["tea-1", "created_at"] == 1704153600.0
    assert items.loc["cup-9", "text"] == "" and np.isnan(items.loc["cup-9", "created_at"])
    # an item the events name and the table lacks is kept, bare: no title, no text
    assert (items.loc["ghost", "title"], items.loc["ghost", "text"]) == ("", "")


def test_an_events_table_alone_gives_items_without_text(tmp_path: Path) -> None:
    path = tmp_path / "clicks.csv"
    path.write_text("user_id,item_id,timestamp\nu1,a,1\n")
    ds = load_table(path, verbose=False)
    assert ds.items[["item_id", "title", "text"]].values.tolist() == [["a", "", ""]]


def test_an_items_table_without_ids_is_refused_by_field(tmp_path: Path) -> None:
    from pulserec.events.tables import load_items

    (tmp_path / "items.jsonl").write_text('{"title": "x"}\n')
    with pytest.raises(DataFormatError, match="item_id"):
        load_items(tmp_path / "items.jsonl")
