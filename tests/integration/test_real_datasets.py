"""The loaders on the real datasets in ../shared/data, checked against their SOURCE.md counts.

Numbers not printed in SOURCE.md (MIND history clicks once per user, Amazon rows
left after exact de-duplication) were verified with an independent plain-Python
pass over the raw files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pulserec.catalog import Catalog
from pulserec.events import (
    Dataset,
    load_amazon_reviews,
    load_dataset,
    load_globo,
    load_mind,
    load_mind_impressions,
    load_movielens_100k,
)

pytestmark = pytest.mark.integration

DatasetDir = Callable[[str], Path]


def test_ml_100k(dataset_dir: DatasetDir) -> None:
    ds = load_movielens_100k(dataset_dir("ml-100k"), verbose=False)
    events = ds.events
    assert len(events) == 100_000
    assert ds.n_users == 943
    assert ds.n_items == 1682
    assert len(ds.items) == 1682
    assert ds.report.dropped == {}
    assert set(events["type"]) == {"rate"}
    assert sorted(events["value"].unique().tolist()) == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert (events["timestamp"].min(), events["timestamp"].max()) == (874724710.0, 893286638.0)
    assert bool(np.all(np.diff(events["timestamp"].to_numpy()) >= 0))
    toy_story = ds.items.iloc[0]
    assert toy_story["item_id"] == "1"
    assert toy_story["text"] == "Toy Story (1995)\nGenres: Animation, Children's, Comedy"
    assert toy_story["attributes"]["release_date"] == "01-Jan-1995"


def test_ml_latest_small(dataset_dir: DatasetDir) -> None:
    ds = load_dataset("ml-latest-small", dataset_dir("ml-latest-small"), verbose=False)
    events, items = ds.events, ds.items
    assert len(events) == 100_836
    assert set(events["type"]) == {"rate"}
    assert ds.n_users == 610
    assert len(items) == 9742
    assert ds.n_items == 9724  # rated movies
    assert ds.report.dropped == {}
    assert (events["timestamp"].min(), events["timestamp"].max()) == (828124615.0, 1537799250.0)
    # 3,683 tag applications on 1,572 movies; 3,574 distinct (movie, tag) case-insensitively.
    n_tags = items["attributes"].map(lambda a: len(a["tags"]))
    assert int((n_tags > 0).sum()) == 1572
    assert int(n_tags.sum()) == 3574
    assert items["text"].iloc[0] == (
        "Toy Story (1995)\nGenres: Adventure, Animation, Children, Comedy, Fantasy\n"
        "Tags: pixar, fun"
    )
    assert int(items["categories"].map(len).eq(0).sum()) == 34  # "(no genres listed)"
    # released: the year in the title, where it has one
    assert items["created_at"].iloc[0] == 788918400.0  # 1995-01-01
    assert int(items["created_at"].isna().sum()) == 12  # "Babylon 5", "Moonlight", ...


def test_mind_sample(dataset_dir: DatasetDir) -> None:
    folder = dataset_dir("mind-small-sample")
    ds = load_mind(folder, verbose=False)
    events, items = ds.events, ds.items
    assert ds.n_users == 4637
    assert ds.report.dropped == {}
    from_impressions = events["event_id"].notna()
    counts = events.loc[from_impressions, "type"].value_counts().to_dict()
    # SOURCE.md: 189,359 impression items of which 7,542 clicks.
    assert counts == {"impression": 181_817, "click": 7_542}
    # 159,802 history entries over 5,000 impressions; once per user (longest) 138,932.
    history = events[~from_impressions]
    assert len(history) == 138_932
    assert set(history["type"]) == {"click"}
    assert len(events) == 189_359 + 138_932
    first_impression = events[from_impressions].groupby("user_id")["timestamp"].min()
    assert bool(
        np.all(history["timestamp"].to_numpy() < first_impression[history["user_id"]].to_numpy())
    )
    assert events["item_id"].nunique() == 22_592

    assert len(items) == 2000
    assert items["categories"].map(lambda c: c[0]).nunique() == 15
    assert items["categories"].map(lambda c: c[1]).nunique() == 143
    assert int((items["text"] == items["title"]).sum()) == 99  # rows without abstract
    # Only 838 referenced news have text here; the rest join the catalogue bare.
    assert int(events["item_id"].drop_duplicates().isin(items["item_id"]).sum()) == 838
    catalog = Catalog.from_frame(items)
    catalog.ensure(events["item_id"].unique())
    assert len(catalog) == 2000 + 22_592 - 838

    impressions = load_mind_impressions(folder)
    assert len(impressions) == 5000
    assert sum(len(i.candidates) for i in impressions) == 189_359
    assert sum(int(i.labels.sum()) for i in impressions) == 7_542
    assert sum(len(i.history) for i in impressions) == 159_802
    assert sum(1 for i in impressions if not i.history) == 107


def test_mind_news_text_from_english_and_chinese_files(dataset_dir: DatasetDir) -> None:
    folder = dataset_dir("mind-small-sample")
    dataset_dir("xmind-cmn-small-dev")  # read through zh_news=True, beside the MIND folder
    english = load_mind(folder, verbose=False)
    both = load_dataset("mind-zh", folder, verbose=False)
    assert both.events.equals(english.events)  # the events do not depend on the text
    referenced = english.events["item_id"].drop_duplicates()
    history = english.events.loc[english.events["event_id"].isna(), "item_id"].drop_duplicates()
    candidates = english.events.loc[english.events["event_id"].notna(), "item_id"].unique()

    def with_text(ds: Dataset, ids: pd.Series | np.ndarray) -> int:
        texted = set(ds.items.loc[ds.items["text"].str.strip() != "", "item_id"])
        return sum(i in texted for i in ids)

    # SOURCE.md of mind-small-sample: of 22,592 referenced news, 838 have English text
    # (588 of 16,000 history ids, 284 of 7,457 candidate ids); 16,755 have text in en or zh.
    assert (len(referenced), len(history), len(candidates)) == (22_592, 16_000, 7_457)
    assert (with_text(english, referenced), with_text(english, history),
            with_text(english, candidates)) == (838, 588, 284)
    assert (with_text(both, referenced), with_text(both, history),
            with_text(both, candidates)) == (16_755, 14_853, 2_759)
    langs = both.items["attributes"].map(lambda a: a["lang"]).value_counts().to_dict()
    assert langs == {"zh": 15_917, "en": 2_000}
    zh = both.items[both.items["attributes"].map(lambda a: a["lang"] == "zh")]
    assert not zh["item_id"].isin(english.items["item_id"]).any()
    assert zh["item_id"].isin(referenced).all()
    n61837 = zh.set_index("item_id").loc["N61837"]
    assert n61837["title"] == "在烏克蘭戰爭的戰中,"
    assert n61837["text"].startswith("在烏克蘭戰爭的戰中,\n在烏克蘭戰爭前線的沙袋牆上")


def test_amazon_all_beauty(dataset_dir: DatasetDir) -> None:
    ds = load_amazon_reviews(dataset_dir("amazon-all-beauty-5core-2018"), verbose=False)
    events = ds.events
    assert ds.n_users == 991
    assert ds.n_items == 85
    assert len(ds.items) == 85
    # 5,269 rows; 1,050 repeat an earlier review exactly (variants of one product).
    assert (ds.report.rows_in, ds.report.rows_out) == (5269, 4219)
    assert ds.report.dropped == {"duplicate": 1050}
    # Of the 1,177 repeated (user, item) pairs in the raw rows, 127 are distinct
    # reviews (other time, rating or text) and are kept as separate comments.
    assert int(events.duplicated(["user_id", "item_id"]).sum()) == 127
    assert set(events["type"]) == {"comment"}
    assert events["value"].value_counts().sort_index().to_dict() == {
        1.0: 92, 2.0: 52, 3.0: 90, 4.0: 272, 5.0: 3713
    }
    assert int(events["text"].isna().sum()) == 0  # the 5 reviews without text keep the summary
    assert (events["timestamp"].min(), events["timestamp"].max()) == (1095724800.0, 1534982400.0)


def test_douban_dmr_sample(dataset_dir: DatasetDir) -> None:
    ds = load_dataset("douban", dataset_dir("douban-dmr-sample"), verbose=False)
    events, items = ds.events, ds.items
    # SOURCE.md: 44 users, 1,583 review events over 983 movies, 980 with a profile.
    assert (len(events), ds.n_users, ds.n_items, len(items)) == (1583, 44, 983, 980)
    assert ds.report.dropped == {}
    assert int(events["item_id"].drop_duplicates().isin(items["item_id"]).sum()) == 980
    assert events["event_id"].is_unique
    # 360 history entries are stars without words.
    assert events["type"].value_counts().to_dict() == {"comment": 1223, "rate": 360}
    assert events["text"].notna().sum() == 1223
    assert events["value"].value_counts().sort_index().to_dict() == {
        1.0: 88, 2.0: 78, 3.0: 323, 4.0: 615, 5.0: 479
    }
    # History dates 2012-10-05 .. 2021-03-31 (China time); the 44 target reviews, all on
    # movie 25779217, carry their full time, 2019-09-13 09:03:44 .. 2021-03-31 22:11:01.
    assert (events["timestamp"].min(), events["timestamp"].max()) == (1349366400.0, 1617199861.0)
    timed = events[(events["timestamp"] + 8 * 3600) % 86400 != 0]
    assert len(timed) == 44
    assert set(timed["item_id"]) == {"25779217"}
    assert timed["timestamp"].min() == 1568336624.0
    first = items.iloc[0]
    assert (first["item_id"], first["title"], first["categories"]) == (
        "26935296", "花椒之味", ("剧情", "家庭")
    )
    assert first["text"].startswith(
        "花椒之味\nGenres: 剧情, 家庭\nDirectors: 麦曦茵\nActors: 郑秀文, "
    )
    assert first["attributes"]["average_stars"] == 7.1
    assert int(items["categories"].map(len).eq(0).sum()) == 1  # one movie without genres


def test_globo_news_clicks_day1(dataset_dir: DatasetDir) -> None:
    folder = dataset_dir("globo-news-clicks-day1")
    ds = load_dataset("globo", folder, verbose=False)
    events, items = ds.events, ds.items
    # SOURCE.md: 118,339 clicks; 512 stragglers more than 1 h after the last session start;
    # without them 117,827 clicks, 39,155 users, 3,967 items.
    assert (ds.report.rows_in, ds.report.rows_out) == (118_339, 117_827)
    assert ds.report.dropped == {"late_click": 512}
    assert (ds.n_users, ds.n_items, len(items)) == (39_155, 3_967, 3_967)
    assert set(events["type"]) == {"click"}
    assert bool(np.all(np.diff(events["timestamp"].to_numpy()) >= 0))
    # 2017-10-01 03:00:00.026 .. 2017-10-02 03:35:49.345 UTC, milliseconds kept.
    assert events["timestamp"].min() == pytest.approx(1506826800.026, abs=1e-6)
    assert events["timestamp"].max() == pytest.approx(1506915349.345, abs=1e-6)
    assert events["event_id"].is_unique
    assert events["event_id"].str.split(":").str[0].nunique() == 45_483
    # No text anywhere: items are bare ids with empty title and text, not the id as text.
    assert items["text"].eq("").all() and items["title"].eq("").all()

    everything = load_globo(folder, late_after=None, verbose=False)
    # SOURCE.md: 118,339 clicks, 39,218 users, 45,555 sessions, 4,097 articles; every
    # session has two or more clicks.
    assert ds.report.rows_in == len(everything.events) == 118_339
    assert (everything.n_users, everything.n_items) == (39_218, 4_097)
    sessions = everything.events["event_id"].str.split(":").str[0]
    assert sessions.nunique() == 45_555
    assert int(sessions.value_counts().min()) == 2
    assert everything.events["timestamp"].max() == pytest.approx(1508888931.578, abs=1e-6)
