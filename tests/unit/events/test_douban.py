"""load_douban on tiny DMR-shaped files with a known answer, and malformed entries."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pulserec.events import DataFormatError, load_dataset, load_douban


def _china(*args: int) -> float:
    """Epoch seconds of a China Standard Time (UTC+8) wall-clock time."""
    return datetime(*args, tzinfo=UTC).timestamp() - 8 * 3600


def _review(user: str, movie: str, text: str, date: str, stars: float,
            history: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"user_id": user, "movie_id": movie, "text": text, "date": date, "stars": stars,
            "useful": 3, "label": 1, "user_profile": {}, "user_reviews": history}


def _entry(movie: int, text: str, date: str, stars: float) -> dict[str, Any]:
    return {"movie_id": movie, "text": text, "date": date, "stars": stars, "useful": 0,
            "tags": ""}


_REVIEWS = {
    "review0": _review("u1", "100", "好看", "2021-03-31 22:11:01", 5, {
        "review0": _entry(100, "好看", "2021-03-31", 5.0),
        "review1": _entry(200, "", "2020-01-02", 3),  # stars without words: a rating
        "review2": _entry(300, "  太长了 ", "2019-05-06", 1),
        "review3": _entry(400, "零分", "2019-05-07", 0),  # out of range: dropped
    }),
    # The same author again: the history repeats, the other target gets its full time.
    "review1": _review("u1", "200", "", "2020-01-02 08:30:00", 3, {
        "review0": _entry(100, "好看", "2021-03-31", 5.0),
        "review1": _entry(200, "", "2020-01-02", 3),
        "review2": _entry(300, "  太长了 ", "2019-05-06", 1),
        "review3": _entry(400, "零分", "2019-05-07", 0),
    }),
    # A target review missing from its author's history still counts.
    "review2": _review("u2", "100", "一般", "2021-01-01 00:00:05", 3, {}),
}

_MOVIES = {
    "100": {"movie_name": "诛仙 Ⅰ", "genres": ["动作", "奇幻"],
            "directors": {"https://d/1": "程小东"},
            "writers": None,
            "actors": {f"https://a/{i}": f"演员{i}" for i in range(7)},
            "languages": ["汉语普通话"], "producing_regions": ["中国大陆"],
            "release_times": "2019-09-13", "movie_duration": "108", "average_stars": "4.3"},
    "200": {"movie_name": "老片", "genres": None, "directors": None, "writers": None,
            "actors": None, "languages": [], "producing_regions": [],
            "release_times": "1987-06(中国大陆)", "movie_duration": None,
            "average_stars": None},
}


def _write(folder: Path, reviews: Any = _REVIEWS, movies: Any = _MOVIES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "reviews.json").write_text(json.dumps(reviews, ensure_ascii=False), "utf-8")
    (folder / "movies.json").write_text(json.dumps(movies, ensure_ascii=False), "utf-8")
    return folder


def test_douban_events(tmp_path: Path) -> None:
    ds = load_douban(_write(tmp_path), verbose=False)
    events = ds.events
    assert ds.name == "douban"
    rows = list(events[["user_id", "item_id", "type", "timestamp", "value", "text",
                        "event_id"]].itertuples(index=False, name=None))
    assert rows == [
        ("u1", "300", "comment", _china(2019, 5, 6), 1.0, "太长了", "u1:300"),
        ("u1", "200", "rate", _china(2020, 1, 2, 8, 30), 3.0, None, "u1:200"),
        ("u2", "100", "comment", _china(2021, 1, 1, 0, 0, 5), 3.0, "一般", "u2:100"),
        ("u1", "100", "comment", _china(2021, 3, 31, 22, 11, 1), 5.0, "好看", "u1:100"),
    ]
    # 4 + 4 history entries and u2's target: the repeated history is counted as duplicate.
    assert (ds.report.rows_in, ds.report.rows_out) == (9, 4)
    assert ds.report.dropped == {"out_of_range_value": 2, "duplicate": 3}


def test_douban_movies(tmp_path: Path) -> None:
    items = load_douban(_write(tmp_path), verbose=False).items
    assert items["item_id"].tolist() == ["100", "200"]
    assert items["title"].tolist() == ["诛仙 Ⅰ", "老片"]
    assert items["categories"].tolist() == [("动作", "奇幻"), ()]
    assert items["text"].tolist() == [
        "诛仙 Ⅰ\nGenres: 动作, 奇幻\nDirectors: 程小东\nActors: 演员0, 演员1, 演员2, 演员3, 演员4",
        "老片",
    ]
    first, second = items["attributes"].tolist()
    assert first == {
        "directors": ["程小东"], "writers": [], "actors": [f"演员{i}" for i in range(7)],
        "languages": ["汉语普通话"], "producing_regions": ["中国大陆"],
        "release_times": "2019-09-13", "duration_minutes": 108.0, "average_stars": 4.3,
        "lang": "zh",
    }
    assert (second["duration_minutes"], second["average_stars"]) == (None, None)
    assert items["created_at"].tolist() == [_china(2019, 9, 13), _china(1987, 6, 1)]


def test_douban_by_name_and_unparseable_release(tmp_path: Path) -> None:
    movies = {"100": {**_MOVIES["100"], "release_times": "unknown"}}
    ds = load_dataset("douban", _write(tmp_path, movies=movies) / "reviews.json", verbose=False)
    assert len(ds.events) == 4
    assert math.isnan(ds.items["created_at"].iloc[0])


@pytest.mark.parametrize(
    ("reviews", "movies", "file", "field", "message"),
    [
        ({"review0": {**_REVIEWS["review2"], "user_id": None}}, _MOVIES, "reviews.json",
         "review0.user_id", "expected str, got NoneType"),
        ({"review0": {k: v for k, v in _REVIEWS["review2"].items() if k != "date"}}, _MOVIES,
         "reviews.json", "review0.date", "missing"),
        ({"r": _review("u", "1", "x", "2020-01-01", 5, {"h7": {"movie_id": 1, "text": "x",
                                                                "date": "2020-01-01"}})},
         _MOVIES, "reviews.json", "r.user_reviews.h7.stars", "missing"),
        ({"review0": []}, _MOVIES, "reviews.json", "review0", "expected a JSON object"),
        (_REVIEWS, {"100": {"genres": []}}, "movies.json", "100.movie_name", "missing"),
        ([1, 2], _MOVIES, "reviews.json", None, "expected one JSON object, got list"),
    ],
)
def test_douban_malformed_entries_are_named(
    tmp_path: Path, reviews: Any, movies: Any, file: str, field: str | None, message: str
) -> None:
    folder = _write(tmp_path, reviews, movies)
    with pytest.raises(DataFormatError, match=message) as info:
        load_douban(folder, verbose=False)
    assert (info.value.path, info.value.field) == (str(folder / file), field)


def test_douban_bad_json_and_missing_file(tmp_path: Path) -> None:
    folder = _write(tmp_path)
    (folder / "reviews.json").write_text('{"review0": {', encoding="utf-8")
    with pytest.raises(DataFormatError, match="not valid JSON") as info:
        load_douban(folder, verbose=False)
    assert info.value.line == 1
    (folder / "movies.json").unlink()
    with pytest.raises(FileNotFoundError) as missing:
        load_douban(folder, verbose=False)
    assert missing.value.filename == str(folder / "movies.json")
