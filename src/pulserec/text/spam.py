"""A spam and noise filter for what users write: cheap rules plus near-duplicate detection.

The rules catch the texts that carry no usable signal about a user's interest or that are
there to advertise: a link, a character or a phrase repeated over and over, a text that is
too short or too long, one with no letters at all (Han characters count as letters), and
all-caps shouting. A near-duplicate rule embeds each text and compares it with the last
``memory`` texts seen (a fixed-size ring buffer, so memory stays bounded on an endless
stream): copy-paste floods and bots repeating a template are caught even when a few words
change.

Examples
--------
>>> from pulserec.text import make_encoder
>>> spam = SpamFilter(encoder=make_encoder("hashing"))
>>> spam.check("Lovely scent, my hair feels soft.").spam
False
>>> spam.check("Lovely scent, my hair feels soft!").reasons
['near_duplicate']
>>> spam.check("BUY NOW!!! BEST PRICES at www.cheap-stuff.com").reasons
['link', 'shouting']
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from pulserec.text.base import TextEncoder
from pulserec.text.keywords import has_han
from pulserec.types import Event

REASONS: Final[tuple[str, ...]] = (
    "link",
    "repeated_chars",
    "repeated_words",
    "too_short",
    "too_long",
    "no_letters",
    "shouting",
    "near_duplicate",
)
"""Every reason :meth:`SpamFilter.check` may give, in the order it reports them."""

# A bare domain counts only with a path after it: reviews name shops ("bought it cheaper on
# Amazon.com") far more often than spam does, while a pasted address has a path.
_LINK: Final[re.Pattern[str]] = re.compile(
    r"(?:https?://|ftp://|www\.)\S+"
    r"|\b[a-z0-9][a-z0-9-]*\.(?:com|net|org|info|biz|ru|cn|io|ly|co|xyz|top|me|tk)/\S*",
    re.IGNORECASE,
)
_SPACES: Final[re.Pattern[str]] = re.compile(r"\s+")
_HAN_CHAR: Final[re.Pattern[str]] = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD: Final[re.Pattern[str]] = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")


@dataclass(frozen=True)
class SpamVerdict:
    """What the filter decided about one text.

    Attributes
    ----------
    spam : bool
        True when at least one rule fired.
    reasons : list of str
        The rules that fired (names from :data:`REASONS`), in :data:`REASONS` order.
    similarity : float
        Highest cosine to a remembered text (0.0 without an encoder or memory).
    """

    spam: bool
    reasons: list[str] = field(default_factory=list)
    similarity: float = 0.0


def _has_letter(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def text_length(text: str) -> int:
    """Length in word units: Latin-script words plus Han characters.

    One Han character carries about as much as one English word, so the same limits fit
    both languages.

    Examples
    --------
    >>> text_length("great shampoo"), text_length("好看"), text_length("!!!")
    (2, 2, 0)
    """
    return len(_LATIN_WORD.findall(_HAN_CHAR.sub(" ", text))) + len(_HAN_CHAR.findall(text))


class SpamFilter:
    """Flags spam and noise in comments; remembers recent texts to catch near-duplicates.

    Parameters
    ----------
    encoder : TextEncoder, optional
        Embeds texts for near-duplicate detection; ``None`` turns that rule off.
    duplicate_threshold : float
        Cosine at or above which a text is a near-duplicate of a remembered one.
    memory : int
        How many recent texts are remembered (ring buffer of embeddings).
    duplicate_min_length : int
        Texts shorter than this (in word units, see :func:`text_length`) are remembered but
        never called near-duplicates: stock phrases ("Great product", "还不错") recur
        between honest users.
    min_length : int
        Fewer word units (see :func:`text_length`) than this is ``too_short``.
    max_chars : int
        More characters than this is ``too_long``.
    max_char_run : int
        The same letter or digit (Han included) this many times in a row is
        ``repeated_chars`` ("soooooooo", "哈哈哈哈哈哈哈哈"). Punctuation and symbols need
        three times as many: real reviews write "!!!!!!!!!!" and "……" for emphasis.
    max_phrase_repeats : int
        A word or phrase (2-30 characters, holding a letter) repeated back to back this many
        times is ``repeated_words``.
    shouting_ratio : float
        Share of upper-case letters, among at least ``shouting_min_letters`` Latin letters,
        at or above which a text is ``shouting``.
    shouting_min_letters : int
        Below this many Latin letters, case is not judged ("OK", "USB").

    Attributes
    ----------
    n_checked : int
        Texts checked so far.
    n_spam : int
        Texts flagged so far.
    """

    def __init__(
        self,
        encoder: TextEncoder | None = None,
        *,
        duplicate_threshold: float = 0.95,
        memory: int = 1000,
        duplicate_min_length: int = 5,
        min_length: int = 2,
        max_chars: int = 5000,
        max_char_run: int = 8,
        max_phrase_repeats: int = 4,
        shouting_ratio: float = 0.8,
        shouting_min_letters: int = 12,
    ) -> None:
        self.encoder = encoder
        self.duplicate_threshold = duplicate_threshold
        self.memory = memory
        self.duplicate_min_length = duplicate_min_length
        self.min_length = min_length
        self.max_chars = max_chars
        self.max_char_run = max_char_run
        self.max_phrase_repeats = max_phrase_repeats
        self.shouting_ratio = shouting_ratio
        self.shouting_min_letters = shouting_min_letters
        if memory < 1:
            raise ValueError(f"memory: expected a positive integer, got {memory!r}")
        self._char_run = re.compile(
            rf"([^\W_])\1{{{max_char_run - 1},}}|([^\w\s])\2{{{3 * max_char_run - 1},}}"
        )
        self._phrase_run = re.compile(rf"(.{{2,30}}?)\1{{{max_phrase_repeats - 1},}}", re.DOTALL)
        self._buffer: np.ndarray | None = None
        self._n_seen = 0
        self.n_checked = 0
        self.n_spam = 0
        self._counts = dict.fromkeys(REASONS, 0)

    # -- rules -----------------------------------------------------------------------
    def rule_reasons(self, text: str) -> list[str]:
        """The rule-based reasons (everything but ``near_duplicate``) for one text.

        Pure: nothing is remembered or counted.
        """
        reasons: list[str] = []
        if _LINK.search(text):
            reasons.append("link")
        if self._char_run.search(text):
            reasons.append("repeated_chars")
        # The trailing space lets the last copy of a repeated phrase match like the others.
        flat = _SPACES.sub(" ", text.lower()).strip() + " "
        if any(_has_letter(m.group(1)) for m in self._phrase_run.finditer(flat)):
            reasons.append("repeated_words")
        if text_length(text) < self.min_length:
            reasons.append("too_short")
        if len(text) > self.max_chars:
            reasons.append("too_long")
        if not _has_letter(text):
            reasons.append("no_letters")
        if not has_han(text):
            # A lower-case URL must not dilute the capitals of the words around it.
            letters = [ch for ch in _LINK.sub(" ", text) if ch.isascii() and ch.isalpha()]
            if len(letters) >= self.shouting_min_letters:
                upper = sum(ch.isupper() for ch in letters)
                if upper >= self.shouting_ratio * len(letters):
                    reasons.append("shouting")
        return reasons

    # -- checking --------------------------------------------------------------------
    def check(self, text: str) -> SpamVerdict:
        """Judge one text and remember it for later near-duplicate checks.

        Parameters
        ----------
        text : str
            A comment, review or query.

        Returns
        -------
        SpamVerdict
        """
        return self.check_many([text])[0]

    def check_many(self, texts: Sequence[str]) -> list[SpamVerdict]:
        """Judge texts in order, as if :meth:`check` were called on each; embeds in one batch.

        A text is compared with everything remembered before it, including earlier texts of
        the same call.
        """
        if isinstance(texts, str):
            raise TypeError("texts: expected a sequence of strings; use check() for one text")
        texts = list(texts)
        vectors = None
        if self.encoder is not None and texts:
            vectors = self.encoder.encode(texts)
        verdicts: list[SpamVerdict] = []
        for row, text in enumerate(texts):
            reasons = self.rule_reasons(text)
            similarity = 0.0
            if vectors is not None:
                similarity = self._remember(vectors[row])
                if (
                    similarity >= self.duplicate_threshold
                    and text_length(text) >= self.duplicate_min_length
                ):
                    reasons.append("near_duplicate")
            verdict = SpamVerdict(bool(reasons), reasons, similarity)
            self.n_checked += 1
            self.n_spam += verdict.spam
            for reason in reasons:
                self._counts[reason] += 1
            verdicts.append(verdict)
        return verdicts

    def _remember(self, vector: np.ndarray) -> float:
        """Highest cosine of ``vector`` to the remembered texts; then store it."""
        if self._buffer is None:
            self._buffer = np.zeros((self.memory, vector.shape[0]), dtype=np.float32)
        filled = min(self._n_seen, self.memory)
        # A zero vector (an empty text) is similar to nothing, including other empty texts.
        similarity = float(np.max(self._buffer[:filled] @ vector)) if filled else 0.0
        self._buffer[self._n_seen % self.memory] = vector
        self._n_seen += 1
        return similarity

    def report(self) -> dict[str, int]:
        """How many checked texts each reason fired on, for every reason (zeros included).

        A text with several reasons counts under each; :attr:`n_spam` counts texts.
        """
        return dict(self._counts)

    def reset(self) -> None:
        """Forget remembered texts and zero the counts."""
        self._buffer = None
        self._n_seen = 0
        self.n_checked = 0
        self.n_spam = 0
        self._counts = dict.fromkeys(REASONS, 0)


class SpamGate:
    """Flags spam comments among events with a :class:`SpamFilter`, one batch at a time.

    The filter remembers recent texts for its near-duplicate check, so calls are
    serialised: the gate is safe to share between threads.
    """

    def __init__(self, spam_filter: SpamFilter) -> None:
        self.filter = spam_filter
        self._lock = threading.Lock()

    def flags(self, events: Sequence[Event]) -> list[bool]:
        """One flag per event: True for a comment the filter judges to be spam."""
        rows = [i for i, e in enumerate(events) if e.type == "comment" and e.text]
        flags = [False] * len(events)
        if rows:
            with self._lock:
                verdicts = self.filter.check_many([events[i].text or "" for i in rows])
            for i, verdict in zip(rows, verdicts, strict=True):
                flags[i] = verdict.spam
        return flags
