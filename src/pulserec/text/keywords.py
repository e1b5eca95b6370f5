"""Interest keywords: the phrases of a text (or of everything a user engaged with) that carry
its meaning, picked KeyBERT-style.

Candidates are phrases cut from the text itself, so every keyword is a real phrase of the
input, and none crosses punctuation. By default (``candidates="phrases"``) they are whole
noun phrases and named entities found by a part-of-speech tagger
(:mod:`pulserec.text.phrases`): "small clay teapots", "marine corps marathon", "云南普洱茶".
``candidates="ngrams"`` is the earlier candidate set, kept for comparison
(benchmarks/keyphrases.py):

- English (and other space-separated text): 1-3-word n-grams inside one clause, lower-cased,
  with no stopword or number at either edge.
- Chinese (any text holding Han characters): the clause is segmented into words by ``jieba``,
  and 1-2-word n-grams with no stopword at either edge are candidates.

Each candidate is embedded with the same encoder as the whole text and scored by the cosine
between the two; Maximal Marginal Relevance (MMR) then picks ``k`` of them that are both
relevant and unlike each other, so "shampoo", "shampoos" and "this shampoo" do not fill the
list between them.

Examples
--------
>>> from pulserec.text import make_encoder
>>> encoder = make_encoder("hashing")
>>> sorted(phrase for phrase, _ in extract_keywords("Cheap flights to Paris", encoder, k=2))
['cheap flights', 'paris']
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Final, Literal

import numpy as np

from pulserec.text.base import TextEncoder
from pulserec.text.phrases import WORD_PATTERN, chinese_phrases, english_phrases, jieba_module

_HAN_RANGES: Final[str] = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN: Final[re.Pattern[str]] = re.compile(f"[{_HAN_RANGES}]")
# Clause boundaries: ASCII and full-width punctuation, brackets, quotes and line breaks.
_CLAUSE: Final[re.Pattern[str]] = re.compile(
    r"[.!?;:,()\[\]{}\"“”‘’«»<>/\\|\n\r\t…。！？；：，、（）【】《》「」『』〈〉～~]+"
)
_WORD: Final[re.Pattern[str]] = WORD_PATTERN
_NUMBER: Final[re.Pattern[str]] = re.compile(r"[\d.,%'’-]+")
# "Genres: ..." / "Tags: ..." at the start of a line: the field names of structured item texts
# (as the loaders write them) are template, not content.
_FIELD_LABEL: Final[re.Pattern[str]] = re.compile(r"(?m)^[^\S\n]*[^\W\d_][\w -]{0,30}:(?=\s)")

ENGLISH_STOPWORDS: Final[frozenset[str]] = frozenset(
    """
    a about above after again against all almost also although am an and another any anyone
    anything are aren't around as at be because been before being below between both but by
    can can't cannot could couldn't did didn't do does doesn't doing don't done down during each
    either else enough etc even ever every few for from further get gets getting got had hadn't
    has hasn't have haven't having he he'd he'll he's her here hers herself him himself his how
    however i i'd i'll i'm i've if in into is isn't it it's its itself just let let's like made
    make makes many may me might more most much must mustn't my myself near need needs neither
    never no nor not now of off often on once one ones only or other others otherwise our ours
    ourselves out over own per perhaps please quite rather really same she she'd she'll she's
    should shouldn't since so some something still such than that that's the their theirs them
    themselves then there there's these they they'd they'll they're they've thing things this
    those though through thus to too under until up upon us use used using very via was wasn't
    we we'd we'll we're we've well were weren't what what's whatever when where whether which
    while who who's whom whose why will with within without won't would wouldn't yes yet you
    you'd you'll you're you've your yours yourself yourselves im ive dont doesnt didnt cant wont
    isnt u ur
    """.split()
)
"""Function words that never start or end an English candidate phrase."""

CHINESE_STOPWORDS: Final[frozenset[str]] = frozenset(
    """
    的 了 着 过 是 在 和 与 及 或 而 且 但 但是 就 都 也 还 又 再
    很 太 更 最 非常 比较 有点 有些 一 一个 一部 一些 一下 一直 一样
    这 那 这个 那个 这部 那部 这些 那些 这样 那样 这么 那么 什么 怎么
    我 你 他 她 它 我们 你们 他们 她们 它们 自己 大家 人家 咱们 其
    其他 其实 之 所 所以 因为 如果 虽然 然后 而且 并 并且 不过 只是 只
    就是 还是 或者 以及 对 对于 把 被 让 给 从 向 到 于 为 为了 以
    比 跟 同 由 啊 吧 呢 吗 嘛 哦 呀 哈 哈哈 啦 呐 么 嗯 哎 唉 个
    部 些 种 次 点 得 地 着呢 没 没有 不 不是 有 会 能 可以 可能 要
    想 觉得 感觉 看 看到 看了 说 做 去 来 上 下 里 中 后 前 时 时候
    已经 现在 当时 还有 真的 真是 确实 挺 蛮 算 算是 罢了 而已 等 等等
    之后 之前 以后 以前 后来 一起 起来 几天 很多 很大 因此 然而 只有
    所有 各种 这种 那种 有人 出来 下来 开始 东西 特别 十分 相当 尤其
    超级 好看 不错 喜欢 一般 还行 很好 挺好 觉得 个人
    """.split()
)
"""Function words, and the verdict words of reviews (好看, 不错, 喜欢), that never start or
end a Chinese candidate phrase: a review's embedding leans towards its verdict, which would
otherwise crowd the subjects the user cares about out of the keywords."""

Candidates = Literal["phrases", "ngrams"]
"""How candidates are cut: whole noun phrases and names (the default), or word n-grams."""

DEFAULT_MAX_CANDIDATES: Final[int] = 64
"""Candidates embedded per text; the most frequent (then earliest) are kept."""


MIN_RELATIVE_SCORE: Final[float] = 0.1
"""A user keyword scores at least this share of the best one (:func:`user_keywords`)."""


def has_han(text: str) -> bool:
    """Whether ``text`` holds a Han (Chinese) character, which selects the Chinese path.

    Examples
    --------
    >>> has_han("Great movie"), has_han("好看的 movie")
    (False, True)
    """
    return _HAN.search(text) is not None


def _english_ngrams(clause: str, max_ngram: int) -> list[str]:
    words = [w.lower().replace("’", "'") for w in _WORD.findall(clause)]
    edge_ok = [
        len(w) > 1 and w not in ENGLISH_STOPWORDS and not _NUMBER.fullmatch(w) for w in words
    ]
    out: list[str] = []
    for n in range(1, max_ngram + 1):
        for start in range(len(words) - n + 1):
            end = start + n - 1
            if edge_ok[start] and edge_ok[end]:
                out.append(" ".join(words[start : end + 1]))
    return out


def _chinese_ngrams(clause: str, max_ngram: int) -> list[str]:
    words = [w for w in jieba_module().lcut(clause) if w.strip() and _WORD.search(w)]
    # A one-character word at an edge is almost always a fragment or a measure word ("们",
    # "六台"), too ambiguous to be an interest, so phrases start and end on longer words.
    edge_ok = [
        len(w) > 1 and w not in CHINESE_STOPWORDS and not _NUMBER.fullmatch(w) for w in words
    ]
    out: list[str] = []
    for n in range(1, max_ngram + 1):
        for start in range(len(words) - n + 1):
            end = start + n - 1
            if not (edge_ok[start] and edge_ok[end]):
                continue
            parts = words[start : end + 1]
            phrase = parts[0]
            for part in parts[1:]:
                # Latin words keep their space; Chinese words are written together.
                gap = " " if phrase[-1].isascii() and part[0].isascii() else ""
                phrase = f"{phrase}{gap}{part}"
            out.append(phrase.lower())
    return out


def _english_noun_phrases(clause: str, max_ngram: int) -> list[str]:
    return english_phrases(clause, max_words=max_ngram, stopwords=ENGLISH_STOPWORDS)


def _chinese_noun_phrases(clause: str, max_ngram: int) -> list[str]:
    return chinese_phrases(clause, max_words=max_ngram, stopwords=CHINESE_STOPWORDS)


def candidate_phrases(
    text: str,
    *,
    max_ngram: int | None = None,
    max_candidates: int | None = DEFAULT_MAX_CANDIDATES,
    candidates: Candidates = "phrases",
) -> list[str]:
    """The candidate keyword phrases of ``text``, most frequent first (then earliest).

    Parameters
    ----------
    text : str
        Any text; Chinese is detected by its Han characters.
    max_ngram : int, optional
        Longest phrase in words. Noun phrases default to 4 words for English and 3 for
        Chinese (a longer one keeps its head, the last words); n-grams to 3 and 2.
    max_candidates : int or None
        Keep at most this many (``None``: all).
    candidates : {"phrases", "ngrams"}
        Whole noun phrases and named entities, or every n-gram without a stopword edge.

    Returns
    -------
    list of str
        Distinct, lower-cased phrases.

    Examples
    --------
    >>> candidate_phrases("The shampoo smells great. Great shampoo!")
    ['shampoo', 'great shampoo']
    >>> candidate_phrases("The shampoo smells great. Great shampoo!", candidates="ngrams")[:3]
    ['shampoo', 'great', 'smells']
    """
    if candidates not in ("phrases", "ngrams"):
        raise ValueError(f"candidates: expected 'phrases' or 'ngrams', got {candidates!r}")
    chinese = has_han(text)
    phrases = candidates == "phrases"
    if max_ngram is None:
        max_ngram = (3 if chinese else 4) if phrases else (2 if chinese else 3)
    if max_ngram < 1:
        raise ValueError(f"max_ngram: expected a positive integer, got {max_ngram!r}")
    if phrases:
        grams = _chinese_noun_phrases if chinese else _english_noun_phrases
    else:
        grams = _chinese_ngrams if chinese else _english_ngrams
    counts: Counter[str] = Counter()
    for clause in _CLAUSE.split(_FIELD_LABEL.sub(" ", text)):
        if clause.strip():
            counts.update(grams(clause, max_ngram))
    # Counter keeps first-insertion order, so a stable sort by count breaks ties by position.
    ranked = sorted(counts, key=counts.__getitem__, reverse=True)
    return ranked if max_candidates is None else ranked[:max_candidates]


def _phrase_words(text: str) -> str:
    """``text`` as its lower-cased words between single spaces, padded with a space each
    side, so that ``_phrase_words(p) in _phrase_words(t)`` finds phrase ``p`` in text ``t``
    on word boundaries."""
    return f" {' '.join(w.lower().replace('’', chr(39)) for w in _WORD.findall(text))} "


def mmr_select(
    relevance: np.ndarray, vectors: np.ndarray, k: int, diversity: float = 0.5
) -> np.ndarray:
    """Maximal Marginal Relevance: ``k`` indices that are relevant and unlike each other.

    Each step picks the candidate maximising
    ``(1 - diversity) * relevance - diversity * (max cosine to those already picked)``.

    Parameters
    ----------
    relevance : ndarray, shape (n,)
        How well each candidate fits the whole (cosine to the document).
    vectors : ndarray, shape (n, dim)
        Unit-norm candidate embeddings.
    k : int
        How many to pick (fewer when there are fewer candidates).
    diversity : float
        0 ranks by relevance alone; 1 only avoids redundancy.

    Returns
    -------
    ndarray of int64
        Picked indices in the order they were picked.

    Examples
    --------
    >>> vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> mmr_select(np.array([0.9, 0.89, 0.5]), vectors, k=2).tolist()
    [0, 2]
    """
    if not 0.0 <= diversity <= 1.0:
        raise ValueError(f"diversity: expected a value in [0, 1], got {diversity!r}")
    relevance = np.asarray(relevance, dtype=np.float64)
    n = len(relevance)
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    vectors = np.asarray(vectors, dtype=np.float64)
    picked = [int(np.argmax(relevance))]
    redundancy = vectors @ vectors[picked[0]]
    available = np.ones(n, dtype=bool)
    available[picked[0]] = False
    for _ in range(k - 1):
        gain = (1.0 - diversity) * relevance - diversity * redundancy
        gain[~available] = -np.inf
        best = int(np.argmax(gain))
        picked.append(best)
        available[best] = False
        np.maximum(redundancy, vectors @ vectors[best], out=redundancy)
    return np.asarray(picked, dtype=np.int64)


def extract_keywords(
    text: str,
    encoder: TextEncoder,
    k: int = 5,
    diversity: float = 0.5,
    *,
    max_candidates: int = DEFAULT_MAX_CANDIDATES,
    candidates: Candidates = "phrases",
) -> list[tuple[str, float]]:
    """The ``k`` phrases of ``text`` that best stand for it, diversified with MMR.

    Parameters
    ----------
    text : str
        English or Chinese (or mixed) text.
    encoder : TextEncoder
        Embeds the text and its candidate phrases (the same model for both).
    k : int
        Number of keywords.
    diversity : float
        MMR trade-off in [0, 1]; 0 returns the most similar phrases even when they repeat
        each other.
    max_candidates : int
        Candidates embedded (the most frequent ones), bounding the cost on long texts.
    candidates : {"phrases", "ngrams"}
        How candidates are cut (:func:`candidate_phrases`).

    Returns
    -------
    list of (str, float)
        ``(phrase, cosine to the whole text)`` in MMR pick order; empty when the text has no
        candidate phrase (empty, only stopwords or numbers).
    """
    found = candidate_phrases(text, max_candidates=max_candidates, candidates=candidates)
    if not found or k <= 0:
        return []
    vectors = encoder.encode([text, *found])
    phrases = vectors[1:]
    relevance = phrases @ vectors[0]
    order = mmr_select(relevance, phrases, k, diversity)
    return [(found[i], float(relevance[i])) for i in order]


def user_keywords(
    texts_with_weights: Sequence[tuple[str, float]],
    encoder: TextEncoder,
    k: int = 10,
    diversity: float = 0.5,
    *,
    max_candidates: int = 32,
    candidates: Candidates = "phrases",
) -> list[tuple[str, float]]:
    """A user's interest keywords from the texts they engaged with, weighted by the caller.

    Each candidate phrase (``max_candidates`` per text) is scored as in
    :func:`extract_keywords` against every text it occurs in, and those cosines are averaged
    with the texts' normalised weights: ``score(c) = sum_t w_t * cos(c, t) * [c in t] /
    sum_t w_t``. A phrase therefore counts for as much as the texts it comes from, so a
    recent text with a large weight pulls the keywords towards its topic, a phrase that recurs
    across texts adds up (``c in t`` also when ``t`` holds ``c`` inside a longer phrase: "tea"
    in "gongfu tea brewing"), and a text with weight 0 contributes nothing. MMR then diversifies
    among the phrases scoring at least ``MIN_RELATIVE_SCORE`` of the best one.

    Parameters
    ----------
    texts_with_weights : sequence of (str, float)
        What the user wrote or read, each with a non-negative weight (typically a recency
        decay such as ``0.5 ** (age / half_life)``, times an event-type weight).
    encoder : TextEncoder
        Embeds the texts and the phrases (one batch).
    k, diversity
        As in :func:`extract_keywords`.
    max_candidates : int
        Candidates taken from each text.
    candidates : {"phrases", "ngrams"}
        How candidates are cut (:func:`candidate_phrases`).

    Returns
    -------
    list of (str, float)
        ``(phrase, weighted score)`` in MMR pick order; empty when no weighted text has a
        candidate.

    Raises
    ------
    ValueError
        When a weight is negative or not finite.
    """
    texts = [text for text, weight in texts_with_weights]
    weights = np.asarray([weight for _, weight in texts_with_weights], dtype=np.float64)
    if len(weights) and not (np.isfinite(weights).all() and (weights >= 0).all()):
        raise ValueError("texts_with_weights: weights must be finite and non-negative")
    keep = [i for i, text in enumerate(texts) if weights[i] > 0 and text.strip()]
    if not keep or k <= 0:
        return []
    texts = [texts[i] for i in keep]
    share = weights[keep] / weights[keep].sum()
    per_text = [
        candidate_phrases(text, max_candidates=max_candidates, candidates=candidates)
        for text in texts
    ]
    column = {p: j for j, p in enumerate(dict.fromkeys(p for ps in per_text for p in ps))}
    if not column:
        return []
    found = list(column)
    occurs = np.zeros((len(found), len(texts)))
    for t, text_phrases in enumerate(per_text):
        occurs[[column[p] for p in text_phrases], t] = 1.0
    # A phrase also occurs in a text that holds it inside a longer phrase: "tea" is in
    # "gongfu tea brewing", though there only the whole is a candidate.
    needles = [(j, _phrase_words(p), has_han(p)) for p, j in column.items()]
    for t, text in enumerate(texts):
        words, lower = _phrase_words(text), text.lower()
        for j, needle, han in needles:
            if not occurs[j, t] and (found[j] in lower if han else needle in words):
                occurs[j, t] = 1.0
    vectors = encoder.encode([*texts, *found])
    phrase_vectors = vectors[len(texts) :]
    relevance = (phrase_vectors @ vectors[: len(texts)].T * occurs) @ share
    # MMR trades relevance for novelty, so a phrase of a text with almost no weight, unlike
    # everything picked so far, could win a place over the user's own phrases; phrases
    # scoring under a tenth of the best one take no part.
    eligible = np.flatnonzero(relevance >= MIN_RELATIVE_SCORE * relevance.max())
    order = eligible[mmr_select(relevance[eligible], phrase_vectors[eligible], k, diversity)]
    return [(found[i], float(relevance[i])) for i in order]
