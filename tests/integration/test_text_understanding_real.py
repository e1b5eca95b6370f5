"""The text-understanding layer with the real ``use-m3`` model on real reviews.

Keywords (English and Chinese), the shipped sentiment model, and near-duplicate spam
detection. The model is loaded once per session; texts come from the staged Amazon and
Douban datasets, found by a prefix of the review so the test reads the real file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from pulserec.events import load_amazon_reviews
from pulserec.text import TextEncoder, make_encoder
from pulserec.text.keywords import extract_keywords, user_keywords
from pulserec.text.sentiment import SentimentModel
from pulserec.text.spam import SpamFilter

pytestmark = pytest.mark.integration

AMAZON_POSITIVE = "Wonderful shampoo!\nI love the fragrance"  # 5 stars
AMAZON_NEGATIVE = "Smells awful\nI bought this to smell nice"  # 1 star
DOUBAN_POSITIVE = "剧情不错，张涵予和袁泉演技在线"  # 4 stars
DOUBAN_NEGATIVE = "粉丝不要控评了，这片是真的烂"  # 1 star
DOUBAN_KEYWORDS = "个人觉得是最好看的一部包青天"


@pytest.fixture(scope="session")
def use_m3() -> TextEncoder:
    return make_encoder("use-m3")


@pytest.fixture(scope="session")
def amazon_texts(dataset_dir: Callable[[str], Path]) -> list[str]:
    path = dataset_dir("amazon-all-beauty-5core-2018") / "All_Beauty_5.json.gz"
    events = load_amazon_reviews(path, verbose=False).events
    return list(dict.fromkeys(events["text"].dropna().astype(str)))


@pytest.fixture(scope="session")
def douban_texts(dataset_dir: Callable[[str], Path]) -> list[str]:
    raw = json.loads((dataset_dir("douban-dmr-sample") / "reviews.json").read_text("utf-8"))
    texts = [str(r["text"]) for r in raw.values()]
    texts += [str(h["text"]) for r in raw.values() for h in r["user_reviews"].values()]
    return list(dict.fromkeys(texts))


def find(texts: list[str], prefix: str) -> str:
    matches = [t for t in texts if t.startswith(prefix)]
    assert matches, f"no review starting with {prefix!r} in the dataset"
    return matches[0]


def test_english_keywords_are_real_phrases_of_the_review(
    use_m3: TextEncoder, amazon_texts: list[str]
) -> None:
    text = find(amazon_texts, AMAZON_POSITIVE)
    keywords = extract_keywords(text, use_m3, k=5)
    assert len(keywords) == 5
    words = set(re.findall(r"[\w']+", text.lower()))
    for phrase, score in keywords:
        assert set(phrase.split()) <= words, phrase
        assert 0.0 < score <= 1.0
    # The review is about a shampoo's scent and the hair it leaves: the top phrase says so.
    top = " ".join(p for p, _ in keywords[:2])
    assert any(w in top for w in ("shampoo", "fragrance", "hair", "silky", "conditioner"))


def test_chinese_keywords_are_real_words_of_the_review(
    use_m3: TextEncoder, douban_texts: list[str]
) -> None:
    text = find(douban_texts, DOUBAN_KEYWORDS)
    keywords = extract_keywords(text, use_m3, k=5)
    assert len(keywords) == 5
    for phrase, _ in keywords:
        assert phrase in text, phrase
        assert len(phrase) >= 2
    # The review is about the Judge Bao series and its actors: a name is among the keywords.
    assert {"包青天", "展昭", "释小龙"} & {p for p, _ in keywords}


def test_user_keywords_mix_languages_by_weight(
    use_m3: TextEncoder, amazon_texts: list[str], douban_texts: list[str]
) -> None:
    english = find(amazon_texts, AMAZON_POSITIVE)
    chinese = find(douban_texts, DOUBAN_KEYWORDS)
    recent_chinese = user_keywords([(english, 0.05), (chinese, 1.0)], use_m3, k=3)
    assert recent_chinese and all(p in chinese for p, _ in recent_chinese)


def test_shipped_sentiment_reads_english_and_chinese(
    use_m3: TextEncoder, amazon_texts: list[str], douban_texts: list[str]
) -> None:
    model = SentimentModel.default(encoder=use_m3)
    positive, negative = find(amazon_texts, AMAZON_POSITIVE), find(amazon_texts, AMAZON_NEGATIVE)
    zh_positive = find(douban_texts, DOUBAN_POSITIVE)
    zh_negative = find(douban_texts, DOUBAN_NEGATIVE)
    p = model.predict_proba([positive, negative, zh_positive, zh_negative])
    assert p[0] > 0.5 > p[1]
    assert p[2] > 0.5 > p[3]


def test_spam_filter_flags_a_real_near_duplicate(
    use_m3: TextEncoder, amazon_texts: list[str]
) -> None:
    original = find(amazon_texts, AMAZON_POSITIVE)
    edited = original.replace("Wonderful shampoo!", "Wonderful shampoo!!").replace(
        "very silky", "so silky"
    )
    other = find(amazon_texts, AMAZON_NEGATIVE)
    spam = SpamFilter(encoder=use_m3)
    verdicts = spam.check_many([original, other, edited])
    assert [v.spam for v in verdicts] == [False, False, True]
    assert verdicts[2].reasons == ["near_duplicate"]
    assert verdicts[1].similarity < spam.duplicate_threshold


def test_the_engine_groups_real_news_by_their_text_as_editors_filed_them(
    use_m3: TextEncoder, dataset_dir: Callable[[str], Path]
) -> None:
    """MIND news without their categories, grouped by the engine from their text alone:
    each group mostly holds one of the 15 editorial categories, far more than groups of
    the same sizes drawn at random do."""
    from dataclasses import replace

    import numpy as np

    from pulserec.catalog.catalog import Catalog
    from pulserec.engine import Engine
    from pulserec.events.datasets.mind import _read_news

    news = list(Catalog.from_frame(_read_news(dataset_dir("mind-small-sample") / "news.tsv")))
    news = news[:1000]
    filed = np.unique([n.categories[0] for n in news], return_inverse=True)[1]
    engine = Engine(encoder=use_m3)
    engine.upsert_items([replace(n, categories=()) for n in news])
    assert set(engine.items.category.tolist()) == {-1}  # no groups before a fit
    engine.fit_text_topics()
    groups = engine.items.category[: len(news)]
    assert (groups >= 0).all() and len(np.unique(groups)) == 32  # the square root of 1,000

    def purity(labels: np.ndarray) -> float:
        return sum(np.bincount(filed[labels == g]).max() for g in np.unique(labels)) / len(filed)

    rng = np.random.default_rng(0)
    chance = float(np.mean([purity(rng.permutation(groups)) for _ in range(5)]))
    assert purity(groups) > 0.55 and purity(groups) > 1.5 * chance, (purity(groups), chance)
