"""The spam filter: each rule fires on a crafted example, and never on a normal comment."""

from __future__ import annotations

import pytest

from pulserec.text import HashingEncoder
from pulserec.text.spam import REASONS, SpamFilter, SpamVerdict, text_length

NORMAL = [
    "This conditioner leaves my hair soft and it smells lovely. Would buy again!",
    "Not great: the pump broke after a week and the lotion is greasy.",
    "剧情不错，演员的表演也很自然，值得一看。",
    "好看",
    "Love it!!! Best moisturizer I've tried, worth every penny.",
    "I used the USA version of the SPF 50 cream.",
    "Cheaper on Amazon.com than at CVS.com, and it works.......... Love it!!!!!!!!!!",
    "一星送给拖我来看电影的朋友……………………",
]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Great deals at https://example.com/shop now", "link"),
        ("visit www.bestprice.net for more", "link"),
        ("order at cheapcreams.com/deals today", "link"),
        ("soooooooooo good", "repeated_chars"),
        ("哈哈哈哈哈哈哈哈，太搞笑", "repeated_chars"),
        ("wow" + "!" * 24, "repeated_chars"),
        ("buy now buy now buy now buy now", "repeated_words"),
        ("好看好看好看好看", "repeated_words"),
        ("ok", "too_short"),
        ("好", "too_short"),
        ("x " * 2600, "too_long"),
        ("12345 678", "no_letters"),
        ("THIS IS THE WORST PRODUCT EVER MADE", "shouting"),
    ],
)
def test_each_rule_fires_on_its_example(text: str, reason: str) -> None:
    verdict = SpamFilter().check(text)
    assert verdict.spam
    assert reason in verdict.reasons


@pytest.mark.parametrize("text", NORMAL)
def test_a_normal_comment_is_not_flagged(text: str) -> None:
    verdict = SpamFilter(encoder=HashingEncoder(dim=256)).check(text)
    assert verdict == SpamVerdict(False, [], verdict.similarity)


def test_near_duplicate_is_flagged_and_distinct_texts_are_not() -> None:
    spam = SpamFilter(encoder=HashingEncoder(dim=512), duplicate_threshold=0.9)
    first = spam.check("Amazing serum, my skin has never looked better, five stars from me")
    assert not first.spam and first.similarity == 0.0
    copy = spam.check("Amazing serum, my skin has never looked better, five stars from me!!")
    assert copy.reasons == ["near_duplicate"] and copy.similarity >= 0.9
    other = spam.check("The shampoo bottle leaked in the box and the cap was cracked.")
    assert not other.spam and other.similarity < 0.9


def test_memory_is_a_bounded_ring_buffer() -> None:
    spam = SpamFilter(encoder=HashingEncoder(dim=512), memory=2)
    texts = ["a first long comment about the shampoo", "a second long comment about lipstick",
             "a third long comment about the sunscreen"]
    spam.check_many(texts)
    # The first text has been pushed out of the two-slot memory; the third is still there.
    assert not spam.check(texts[0]).spam
    assert spam.check(texts[2]).reasons == ["near_duplicate"]
    assert spam._buffer is not None and spam._buffer.shape[0] == 2


def test_check_many_equals_checking_one_by_one() -> None:
    texts = ["nice cream", "nice cream", "VISIT WWW.SPAM.COM NOW PLEASE", "ok"]
    batch = SpamFilter(encoder=HashingEncoder(dim=128)).check_many(texts)
    single_filter = SpamFilter(encoder=HashingEncoder(dim=128))
    assert batch == [single_filter.check(t) for t in texts]


def test_short_stock_phrases_are_never_near_duplicates() -> None:
    spam = SpamFilter(encoder=HashingEncoder(dim=128))
    verdicts = spam.check_many(["Great product", "Great product", "还不错", "还不错"])
    assert not any(v.spam for v in verdicts)
    assert verdicts[1].similarity == pytest.approx(1.0)


def test_report_counts_reasons_and_reset_clears() -> None:
    review = "a fine review of a fine product, it works"
    spam = SpamFilter(encoder=HashingEncoder(dim=128))
    spam.check_many(["ok", "ok", "see http://x.io", review, review])
    report = spam.report()
    assert set(report) == set(REASONS)
    assert report["too_short"] == 2
    assert report["near_duplicate"] == 1
    assert report["link"] == 1
    assert spam.n_checked == 5 and spam.n_spam == 4
    spam.reset()
    assert spam.n_checked == 0 and sum(spam.report().values()) == 0
    assert not spam.check("ok ok fine then").spam


def test_without_an_encoder_there_is_no_duplicate_rule() -> None:
    spam = SpamFilter()
    assert not spam.check("the same fine text").spam
    assert not spam.check("the same fine text").spam


def test_text_length_counts_words_and_han_characters() -> None:
    assert text_length("great shampoo") == 2
    assert text_length("很好看") == 3
    assert text_length("iPhone 手机 good") == 4
    assert text_length("123 !!!") == 0
    with pytest.raises(TypeError, match="check"):
        SpamFilter().check_many("a string")
