"""Keyword extraction: candidate phrases, MMR and the user-level aggregation, with known answers."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Sequence

import numpy as np
import pytest

from pulserec.text import HashingEncoder, TextEncoder
from pulserec.text.base import DEFAULT_BATCH_SIZE, FloatMatrix, Kind, l2_normalise
from pulserec.text.keywords import (
    CHINESE_STOPWORDS,
    ENGLISH_STOPWORDS,
    candidate_phrases,
    extract_keywords,
    has_han,
    mmr_select,
    user_keywords,
)

# Concept directions of a hand-built encoder: a text is the normalised sum of its words'
# vectors, so cosines between phrases and texts are known exactly.
CONCEPTS = {
    "shoes": [1.0, 0.0, 0.0],
    "sneakers": [0.98, 0.2, 0.0],
    "boots": [0.97, 0.0, 0.25],
    "tea": [0.0, 1.0, 0.0],
    "matcha": [0.1, 0.99, 0.0],
    "poetry": [0.0, 0.0, 1.0],
}


class ConceptEncoder(TextEncoder):
    """Known-answer encoder: bag of concept vectors; unknown words contribute nothing."""

    name = "concept"
    dim = 3

    def encode(
        self,
        texts: Sequence[str],
        *,
        kind: Kind = "passage",
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: bool = False,
    ) -> FloatMatrix:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().replace(",", " ").split():
                out[row] += np.asarray(CONCEPTS.get(word, [0.0, 0.0, 0.0]), dtype=np.float32)
        return l2_normalise(out)


# --------------------------------------------------------------------------- candidates


def test_english_noun_phrases_are_whole_and_keep_names_whole() -> None:
    text = (
        "See leaves withered in small unglazed clay pots; Longjing green tea from Hangzhou. "
        "Barack Obama's visit to New York City."
    )
    phrases = candidate_phrases(text, max_candidates=None)
    for whole in ("small unglazed clay pots", "longjing green tea", "new york city",
                  "barack obama", "hangzhou"):
        assert whole in phrases
    # Its head is a whole noun phrase too; a piece cut from the middle is not.
    assert "clay pots" in phrases
    for cut in ("longjing green", "unglazed clay", "york city", "new york", "obama's visit",
                "see leaves withered", "green tea from"):
        assert cut not in phrases
    # Determiners, verbs and superlatives do not start a phrase.
    assert candidate_phrases("The best shampoo for curly hair smells great") == [
        "shampoo", "curly hair", "hair"]


def test_title_case_headlines_are_tagged_as_common_words() -> None:
    # In Title Case every word is capitalised; tagged as written, "Worth" and "Hearing"
    # would be read as names and glued to the phrase.
    assert candidate_phrases("The Best Jazz Trios Worth Hearing")[0] == "jazz trios"
    assert "jazz trios worth" not in candidate_phrases("The Best Jazz Trios Worth Hearing")
    # A name the lexicon does not know stays a name.
    assert "marine corps marathon" in candidate_phrases("Soggy Marine Corps Marathon")


def test_names_join_over_of_and_phrases_longer_than_the_limit_are_left_out() -> None:
    assert "bank of america" in candidate_phrases("He works at the Bank of America branch")
    long_phrase = candidate_phrases("small unglazed clay pots", max_ngram=3)
    assert "small unglazed clay pots" not in long_phrase
    assert "unglazed clay pots" not in long_phrase  # cut, not a phrase of the text
    assert long_phrase == ["clay pots"]


def test_chinese_candidates_are_noun_compounds_and_names() -> None:
    phrases = candidate_phrases("云南普洱茶的冲泡方法和品鉴技巧。特朗普在白宫会见了安倍晋三")
    for whole in ("云南普洱茶", "冲泡方法", "品鉴技巧", "特朗普", "安倍晋三"):
        assert whole in phrases
    assert "普洱茶" in phrases  # the head of the compound
    # Verbs, particles and conjunctions end a phrase; n-grams would keep "普洱茶的冲泡".
    for phrase in phrases:
        assert not {"的", "和", "会见", "在"} & set(phrase)


def test_unknown_candidate_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="candidates"):
        candidate_phrases("tea", candidates="words")  # type: ignore[arg-type]


def test_english_ngrams_have_no_stopword_or_number_at_an_edge() -> None:
    phrases = candidate_phrases(
        "The best shampoo for curly hair in 2018, and it smells great!", candidates="ngrams"
    )
    assert "best shampoo" in phrases
    assert "curly hair" in phrases
    assert "shampoo for curly hair" not in phrases  # four words: longer than 3
    assert "shampoo for curly" in phrases  # a stopword inside a phrase is fine
    for phrase in phrases:
        words = phrase.split()
        assert words[0] not in ENGLISH_STOPWORDS and words[-1] not in ENGLISH_STOPWORDS
        assert not words[0].isdigit() and not words[-1].isdigit()
    # No n-gram crosses the comma.
    assert not any("2018" in p or "hair smells" in p for p in phrases)


def test_candidates_are_ranked_by_frequency_then_position_and_capped() -> None:
    phrases = candidate_phrases("Tea time. Green tea, black tea, tea cakes.", max_candidates=3,
                                candidates="ngrams")
    assert phrases == ["tea", "time", "tea time"]
    # "tea" is the head of two phrases, so it comes first.
    phrases = candidate_phrases("We had green tea, black tea, tea cakes.", max_candidates=2)
    assert phrases == ["tea", "green tea"]


def test_chinese_ngrams_are_jieba_words_without_stopword_edges() -> None:
    text = "这部电影的剧情很精彩，演员的演技也非常好，特效令人震撼"
    phrases = candidate_phrases(text, candidates="ngrams")
    for word in ("电影", "剧情", "精彩", "演员", "演技", "特效"):
        assert word in phrases
    for phrase in phrases:
        assert phrase in text  # real phrases of the text, written without spaces
        assert not phrase.startswith(tuple(w for w in CHINESE_STOPWORDS if len(w) > 1))
        assert len(phrase) >= 2


def test_has_han_selects_the_chinese_path() -> None:
    assert has_han("好看") and has_han("iPhone 手机")
    assert not has_han("Good movie") and not has_han("")


def test_text_without_candidates_gives_no_keywords() -> None:
    encoder = HashingEncoder(dim=16)
    assert candidate_phrases("") == []
    assert extract_keywords("the and of 2020!!", encoder) == []
    assert extract_keywords("", encoder) == []


# --------------------------------------------------------------------------- MMR


def test_mmr_skips_a_near_copy_when_diversity_is_high() -> None:
    vectors = np.array([[1.0, 0.0], [0.999, 0.045], [0.0, 1.0]])
    relevance = np.array([0.9, 0.89, 0.6])
    assert mmr_select(relevance, vectors, k=2, diversity=0.0).tolist() == [0, 1]
    assert mmr_select(relevance, vectors, k=2, diversity=0.5).tolist() == [0, 2]
    assert mmr_select(relevance, vectors, k=10, diversity=0.5).tolist() == [0, 2, 1]
    with pytest.raises(ValueError, match="diversity"):
        mmr_select(relevance, vectors, k=2, diversity=1.5)


def test_extract_keywords_mmr_picks_diverse_phrases() -> None:
    encoder = ConceptEncoder()
    text = "shoes, sneakers, boots, tea"
    by_relevance = [p for p, _ in extract_keywords(text, encoder, k=2, diversity=0.0)]
    diverse = [p for p, _ in extract_keywords(text, encoder, k=2, diversity=0.7)]
    # The text is mostly about footwear: with no diversity the two footwear words win;
    # with diversity the second pick is the other topic.
    assert by_relevance == ["shoes", "sneakers"] or by_relevance == ["sneakers", "shoes"]
    assert diverse[1] == "tea"
    assert diverse[0] in {"shoes", "sneakers", "boots"}


def test_extract_keywords_scores_are_cosines_to_the_text() -> None:
    encoder = ConceptEncoder()
    text = "shoes, tea"
    result = dict(extract_keywords(text, encoder, k=2, diversity=0.0))
    expected = float(encoder.encode(["shoes"])[0] @ encoder.encode([text])[0])
    assert result["shoes"] == pytest.approx(expected, abs=1e-6)
    assert result["tea"] == pytest.approx(np.sqrt(0.5), abs=1e-6)


# --------------------------------------------------------------------------- user level


def test_user_keywords_follow_the_weights() -> None:
    encoder = ConceptEncoder()
    texts = ["comfortable shoes and boots", "matcha tea"]
    shoes_first = user_keywords(list(zip(texts, [1.0, 0.05], strict=True)), encoder, k=2)
    tea_first = user_keywords(list(zip(texts, [0.05, 1.0], strict=True)), encoder, k=2)
    footwear, drinks = {"shoes", "boots"}, {"tea", "matcha"}
    assert set(shoes_first[0][0].split()) & footwear
    assert not set(shoes_first[0][0].split()) & drinks
    assert set(tea_first[0][0].split()) <= drinks


def test_user_keywords_ignore_zero_weight_texts_and_reject_negative_weights() -> None:
    encoder = ConceptEncoder()
    result = user_keywords([("shoes", 1.0), ("poetry tea", 0.0)], encoder, k=5)
    assert [p for p, _ in result] == ["shoes"]
    assert user_keywords([("shoes", 0.0)], encoder) == []
    with pytest.raises(ValueError, match="non-negative"):
        user_keywords([("shoes", -1.0)], encoder)


# --------------------------------------------------------------------------- jieba


def test_jieba_is_quiet() -> None:
    candidate_phrases("好看的电影")
    assert logging.getLogger("jieba").level >= logging.WARNING


def test_taggers_first_use_prints_nothing_and_warns_nothing() -> None:
    # A fresh interpreter: the imports and the dictionary and lexicon loads happen here for
    # the first time (jieba's part-of-speech mode, the English tagger's lexicon files).
    code = (
        "from pulserec.text.keywords import candidate_phrases\n"
        "print(candidate_phrases('这部电影的剧情很精彩'))\n"
        "print(candidate_phrases('Longjing green tea'))\n"
        "print(candidate_phrases('这部电影的剧情很精彩', candidates='ngrams'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "剧情" in done.stdout
    assert "longjing green tea" in done.stdout


def test_user_keyword_scores_are_weight_averaged_cosines() -> None:
    # n-grams: "shoes", "tea" and "shoes tea" are all candidates of the second text.
    result = dict(user_keywords([("shoes", 3.0), ("shoes tea", 1.0)], ConceptEncoder(), k=5,
                                diversity=0.0, candidates="ngrams"))
    half = np.sqrt(0.5)  # cosine of "shoes" (or "tea") to "shoes tea"
    assert result["shoes"] == pytest.approx(0.75 * 1.0 + 0.25 * half, abs=1e-6)
    assert result["tea"] == pytest.approx(0.25 * half, abs=1e-6)
    assert result["shoes tea"] == pytest.approx(0.25 * 1.0, abs=1e-6)


def test_user_keywords_leave_out_phrases_of_texts_with_almost_no_weight() -> None:
    # "poetry" is unlike everything else, so MMR would pick it for novelty; its text has
    # 2 % of the weight, under a tenth of the best score.
    texts = [("shoes sneakers boots", 1.0), ("poetry", 0.02)]
    picked = [p for p, _ in user_keywords(texts, ConceptEncoder(), k=3, diversity=0.9,
                                         candidates="ngrams")]
    assert "poetry" not in picked and picked
    with_weight = [p for p, _ in user_keywords([(t, 1.0) for t, _ in texts], ConceptEncoder(),
                                               k=3, diversity=0.9, candidates="ngrams")]
    assert "poetry" in with_weight


def test_chinese_names_with_a_middle_dot_or_in_latin_letters_stay_whole() -> None:
    phrases = candidate_phrases("布鲁斯队将罗比·法布里换成雅各布·德拉罗斯 (Jacob De La Rose)")
    assert "罗比·法布里" in " ".join(phrases)
    assert "jacob de la rose" in phrases
    # The last piece of a name is never a phrase on its own.
    assert not {"rose", "la rose", "法布里", "德拉罗斯"} & set(phrases)


def test_units_and_gerunds_are_no_keyphrases_but_capital_acronyms_are() -> None:
    phrases = candidate_phrases("A clay teapot, 150 ml, from the UK. Jazz trios worth hearing")
    assert "ml" not in phrases and "uk" in phrases
    assert "hearing" not in phrases and "jazz trios" in phrases


def test_user_keywords_count_a_phrase_inside_a_longer_one() -> None:
    # "tea" is a candidate of the second text only; the first holds it inside its phrase
    texts = [("gongfu tea brewing", 1.0), ("green tea", 1.0)]
    result = dict(user_keywords(texts, ConceptEncoder(), k=5, diversity=0.0))
    assert "gongfu tea brewing" in result
    assert result["tea"] == pytest.approx(1.0, abs=1e-6)  # cosine 1 to both texts


def test_a_verb_after_a_noun_does_not_join_its_compound() -> None:
    assert candidate_phrases("what makes each rhythm section breathe") == ["rhythm section"]
    # followed by a verb, the same kind of word is the compound's head
    assert "first decision win" in candidate_phrases("his first decision win was short lived")
