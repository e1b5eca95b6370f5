"""Candidate keyphrases that are whole noun phrases and named entities.

A keyword a person can read is a phrase they would write themselves: "small clay teapots",
"Longjing green tea", "Marine Corps Marathon", not "longjing green" or "jazz trios worth".
This module cuts such phrases from a clause with a part-of-speech tagger, so that the
keyword extractor (:mod:`pulserec.text.keywords`) only ranks whole phrases.

- English: the Brill-style tagger that ``textblob`` ships with its lexicon, morphology,
  context and entity rules inside the wheel (nothing is downloaded). A noun phrase is a run
  of adjectives, participles and nouns that ends on a noun; determiners, verbs, prepositions,
  numbers and stopwords end it. A run of proper nouns ("New York City", "Bank of America")
  is a named entity and is kept whole. Headlines written in Title Case are tagged on their
  lower-cased common words, since a capital there marks the style, not a name.
- Chinese: ``jieba``'s part-of-speech mode; consecutive nouns, proper names (people,
  places, organisations), verbal and adjectival nouns and Latin words form one phrase
  ("云南普洱茶", "日本首相安倍晋三").

Besides each whole phrase, its named entities and its head (the trailing noun compound:
"clay teapots" of "small clay teapots") are candidates too: each is itself a whole noun
phrase, and a shorter one often names the interest better.

Examples
--------
>>> english_phrases("Longjing green tea in small unglazed clay pots")
['longjing green tea', 'tea', 'longjing', 'small unglazed clay pots', 'clay pots']
>>> chinese_phrases("云南普洱茶的冲泡方法")
['云南普洱茶', '普洱茶', '冲泡方法', '方法']
"""

from __future__ import annotations

import logging
import re
import warnings
from functools import cache
from typing import Any, Final

# Words keep inner apostrophes and hyphens ("don't", "anti-frizz").
WORD_PATTERN: Final[re.Pattern[str]] = re.compile(r"[^\W_](?:[\w'’-]*[^\W_])?")

# Penn Treebank tags (as the textblob tagger writes them, entity tags like "NNP-PERS"
# reduced to their prefix).
_NOUN: Final[frozenset[str]] = frozenset({"NN", "NNS", "NNP", "NNPS"})
_PROPER: Final[frozenset[str]] = frozenset({"NNP", "NNPS"})
# Words that may sit inside a noun phrase before its head noun.
_MODIFIER: Final[frozenset[str]] = frozenset({"JJ", "VBN", "VBG"})
# Superlatives and comparatives ("best", "biggest", "more") are a headline's verdict, not
# part of what it is about; they may not start a phrase.
_NOT_FIRST: Final[frozenset[str]] = frozenset({"VBG", "JJR", "JJS"})
# Joins two proper-noun runs into one name: "Bank of America", "Procter & Gamble".
_NAME_JOINERS: Final[frozenset[str]] = frozenset({"of", "&", "de", "del", "von", "van"})
# Adjectives the lexicon knows that behave like prepositions or adverbs ("trios worth
# hearing", "a week ago"): they end a phrase.
_NOT_INSIDE: Final[frozenset[str]] = frozenset({"worth", "ago", "enough", "like", "due"})
# What may follow a verb that ends a clause or takes an object: nothing, a determiner, a
# pronoun, "to", an adverb.
_AFTER_A_VERB: Final[frozenset[str]] = frozenset({"", "DT", "PRP", "PRP$", "TO", "RB", "IN"})
_POSSESSIVE: Final[re.Pattern[str]] = re.compile(r"^(.+?)['’][sS]?$")

# jieba flags (ICTCLAS tag set): nouns and their kinds, names of people (nr), places (ns),
# organisations (nt), other proper nouns (nz), verbal and adjectival nouns, abbreviations,
# Latin words (eng).
_CHINESE_NOMINAL: Final[frozenset[str]] = frozenset(
    {"n", "ng", "nr", "nrt", "nrfg", "ns", "nt", "nz", "nw", "vn", "an", "j", "eng"}
)

# The middle dots that join the parts of a transliterated name.
_NAME_DOTS: Final[frozenset[str]] = frozenset({"·", "・", "•", "‧"})


@cache
def jieba_module() -> Any:
    """The ``jieba`` module, imported on first use and made quiet.

    jieba 0.42 has regex literals with invalid escape sequences (``"\\."``). Python 3.11
    compiles them with a ``DeprecationWarning`` (a ``SyntaxWarning`` from 3.12) whenever
    no cached bytecode exists, which a test run with warnings as errors turns into a
    ``SyntaxError``. Only that message is ignored, only around this import (its
    part-of-speech module included). jieba also logs "Building prefix dict..." at DEBUG to
    stderr on first use; its own logger is raised to WARNING.
    """
    with warnings.catch_warnings():
        for category in (DeprecationWarning, SyntaxWarning):
            warnings.filterwarnings("ignore", "invalid escape sequence", category)
        import jieba
        import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    return jieba


@cache
def _english_tagger() -> tuple[Any, Any]:
    """The textblob lexicon (with its rule sets) and ``find_tags``, loaded once.

    textblob reads its lexicon files through a generator that never closes them, which
    raises a ``ResourceWarning`` when the file is collected; that warning is ignored here,
    around the one load, so that a run with warnings as errors does not fail on it.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        from textblob._text import find_tags
        from textblob.en import lexicon

        lexicon.load()
        for rules in (lexicon.morphology, lexicon.context, lexicon.entities):
            rules.load()
    return lexicon, find_tags


def _split_possessive(words: list[str]) -> list[str]:
    """``["Obama's", "visit"]`` -> ``["Obama", "'s", "visit"]``: the possessive ends a name."""
    out: list[str] = []
    for word in words:
        match = _POSSESSIVE.match(word) if len(word) > 3 else None
        if match and word.lower().endswith(("'s", "’s", "s'", "s’")):
            out.extend([match.group(1), "'s"])
        else:
            out.append(word)
    return out


def _title_cased(words: list[str], lexicon: Any) -> bool:
    """Whether a clause is written in Title Case: most of its common words are capitalised.

    Common words are those the lexicon knows in lower case and that are 4+ letters long (so
    "a", "of" and names do not count); in running text they are written in lower case.
    """
    common = [w for w in words if len(w) >= 4 and w.isalpha() and w.lower() in lexicon]
    capitalised = sum(w[0].isupper() for w in common)
    return len(common) >= 2 and capitalised >= 0.75 * len(common)


def _tag(words: list[str], title_case: bool) -> list[str]:
    lexicon, find_tags = _english_tagger()
    if title_case:
        # "Piano Jazz Trios Worth Hearing": tag what the lexicon knows in lower case as the
        # common word it is; unknown capitalised words stay proper nouns.
        words = [
            w.lower() if not w.isupper() and w.lower() in lexicon else w for w in words
        ]
    tagged = find_tags(
        words,
        lexicon=lexicon,
        morphology=lexicon.morphology,
        context=lexicon.context,
        entities=lexicon.entities,
    )
    tags = [str(tag).split("-")[0] for _, tag in tagged]
    for i in range(1, len(tags)):
        # The context rules read a verb after a noun as part of the compound ("makes each
        # rhythm section breathe"); a word the lexicon knows as a verb stays one where what
        # follows is no noun or verb of its own (the clause ends, or an object or adverb
        # starts): "decision win was" keeps its noun.
        after = tags[i + 1] if i + 1 < len(tags) else ""
        if (
            tags[i] == "NN"
            and tags[i - 1] in _NOUN
            and lexicon.get(words[i].lower()) == "VB"
            and after in _AFTER_A_VERB
        ):
            tags[i] = "VB"
    return tags


def _with_head_and_names(
    words: list[str],
    tags: list[str],
    stopwords: frozenset[str],
    max_words: int,
    names: bool = True,
) -> list[str]:
    """The phrase itself, then its names and its head, each if at most ``max_words`` long.

    A longer phrase is left out rather than cut: any part of it could start in the middle of
    a name or a compound ("spring man" of "Silver Spring man"). ``names=False`` leaves the
    names out (in Title Case, where a capital does not mark a name).
    """
    phrases: list[list[str]] = [words]
    start = len(words)
    while start > 0 and tags[start - 1] in _NOUN:
        start -= 1
    phrases.append(words[start:])
    run: list[str] = []
    for word, tag in [*zip(words, tags, strict=True), ("", "")]:
        if tag in _PROPER or (run and word.lower() in _NAME_JOINERS):
            run.append(word)
            continue
        while run and run[-1].lower() in _NAME_JOINERS:
            run.pop()
        if run and names:
            phrases.append(run)
        run = []
    out: list[str] = []
    for phrase in phrases:
        edges = {phrase[0].lower(), phrase[-1].lower()}
        if len(phrase) > max_words or edges & stopwords:
            continue
        # a word of one or two letters at an edge is a unit ("150 ml", "100 g tin") unless
        # written in capitals ("UK", "TV")
        if any(len(w) <= 2 and not w.isupper() for w in (phrase[0], phrase[-1])):
            continue
        text = " ".join(phrase).lower()
        if text not in out:
            out.append(text)
    return out


def english_phrases(
    clause: str, *, max_words: int = 4, stopwords: frozenset[str] = frozenset()
) -> list[str]:
    """The noun phrases and named entities of an English clause, lower-cased, in text order.

    Parameters
    ----------
    clause : str
        Text without clause punctuation (the caller splits at it); words are runs of letters
        and digits with inner apostrophes and hyphens.
    max_words : int
        A longer phrase is left out; its names and its head still count.
    stopwords : frozenset of str
        Words that may not start or end a phrase (lower case).
    """
    words = _split_possessive(WORD_PATTERN.findall(clause))
    if not words:
        return []
    title_case = _title_cased(words, _english_tagger()[0])
    tags = [
        "IN" if word.lower() in _NOT_INSIDE else tag
        for word, tag in zip(words, _tag(words, title_case), strict=True)
    ]
    for i in range(1, len(words)):
        # "worth hearing", "like walking": the -ing word after them is a verb
        if tags[i - 1] == "IN" and words[i - 1].lower() in _NOT_INSIDE:
            if words[i].lower().endswith("ing"):
                tags[i] = "VBG"
    out: list[str] = []
    i = 0
    while i < len(words):
        if tags[i] not in _NOUN and tags[i] not in _MODIFIER:
            i += 1
            continue
        j = i
        while j < len(words) and (
            tags[j] in _NOUN
            or tags[j] in _MODIFIER
            or (
                words[j].lower() in _NAME_JOINERS
                and tags[j - 1] in _PROPER
                and j + 1 < len(words)
                and tags[j + 1] in _PROPER
            )
        ):
            j += 1
        span_words, span_tags = words[i:j], tags[i:j]
        # A phrase ends on its head noun and starts on a word that may start one.
        while span_tags and span_tags[-1] not in _NOUN:
            span_words, span_tags = span_words[:-1], span_tags[:-1]
        while span_tags and (
            span_tags[0] in _NOT_FIRST or span_words[0].lower() in stopwords
        ):
            span_words, span_tags = span_words[1:], span_tags[1:]
        if span_words:
            for phrase in _with_head_and_names(
                span_words, span_tags, stopwords, max_words, names=not title_case
            ):
                if phrase not in out:
                    out.append(phrase)
        i = max(j, i + 1)
    return out


def chinese_phrases(
    clause: str, *, max_words: int = 3, stopwords: frozenset[str] = frozenset()
) -> list[str]:
    """The noun compounds and names of a Chinese clause (jieba part-of-speech mode).

    Parameters
    ----------
    clause : str
        Chinese text (Latin words inside are kept with their spaces).
    max_words : int
        A longer compound is left out; its head still counts.
    stopwords : frozenset of str
        Words that may not start or end a phrase.
    """
    posseg = jieba_module().posseg
    pairs = [(p.word, p.flag) for p in posseg.lcut(clause) if p.word.strip()]
    out: list[str] = []
    run: list[str] = []
    for word, flag in [*pairs, ("", "x")]:
        if flag in _CHINESE_NOMINAL and word not in stopwords:
            if run and run[-1] in _NAME_DOTS:
                # A transliterated name written with a middle dot ("尼克·博薩") is one name.
                run[-2:] = [run[-2] + run[-1] + word]
            elif run and word.isascii() and run[-1].isascii():
                # So is a run of Latin words ("Jacob De La Rose").
                run[-1] = f"{run[-1]} {word}"
            else:
                run.append(word)
            continue
        if word in _NAME_DOTS and run and run[-1] not in _NAME_DOTS:
            run.append(word)
            continue
        while run and run[-1] in _NAME_DOTS:
            run.pop()
        words = run
        run = []
        if not words:
            continue
        candidates = []
        # A lone one-character word is a fragment or a measure word ("们", "台"), too
        # ambiguous to be an interest; a compound longer than ``max_words`` is left out
        # rather than cut (its head still counts).
        if len(words) <= max_words and (len(words) > 1 or len(words[0]) > 1):
            candidates.append(words)
        # The head alone (the last word) is a phrase too, unless it is the last piece of a
        # name: a Latin word ("Clowney" of "Jadeveon Clowney"), or a compound holding a
        # dotted name, whose last piece jieba often splits off ("德拉" "羅斯").
        named = words[-1].isascii() or any(d in w for w in words for d in _NAME_DOTS)
        if len(words) > 1 and len(words[-1]) > 1 and not named:
            candidates.append(words[-1:])
        for parts in candidates:
            phrase = "".join(parts).lower()
            if phrase not in out:
                out.append(phrase)
    return out
