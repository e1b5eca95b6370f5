"""What a user is into, in words: keywords, categories, topics, and how they moved.

Keywords come from the text of what the user engaged with (and their searches),
weighted by recency for the short term and evenly over a long horizon for the long
term; topics are the catalog's text clusters, refitted with the models. The result of
:meth:`Insight.describe` is kept per user until their next event.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from pulserec.engine.items import LiveItems, item_text
from pulserec.state.base import StateConfig, UserState


@dataclass(frozen=True)
class Keyword:
    keyword: str
    weight: float


@dataclass(frozen=True)
class CategoryWeight:
    category: str
    weight: float


@dataclass(frozen=True)
class TopicShare:
    topic: int
    label: str
    share: float


@dataclass(frozen=True)
class TimelinePoint:
    """The short-term topic mix right after one event."""

    item_id: str
    timestamp: float
    topics: dict[str, float]


@dataclass(frozen=True)
class ShortTerm:
    keywords: list[Keyword]
    categories: list[CategoryWeight]
    topics: list[TopicShare]


@dataclass(frozen=True)
class LongTerm:
    keywords: list[Keyword]
    topics: list[TopicShare]


@dataclass(frozen=True)
class Interests:
    """What the engine believes a user is into, short and long term."""

    user_id: str
    n_events: int
    recent_items: list[str]
    """Most recent first."""
    queries: list[str]
    """The user's searches, oldest first."""
    short_term: ShortTerm
    long_term: LongTerm
    timeline: list[TimelinePoint]
    """The short-term topic mix after each of the last events, oldest first."""
    summary: str = ""
    """One sentence in the language of most of the user's text: what they are into lately
    and over time (empty when there is nothing to say)."""
    language: str = "en"
    """``en`` or ``zh``: the language of most of the text the user engaged with."""


def language_of(texts: list[str]) -> str:
    """``zh`` when CJK characters outnumber Latin letters in ``texts``, else ``en``."""
    cjk = latin = 0
    for text in texts:
        for ch in text:
            if "\u4e00" <= ch <= "\u9fff":
                cjk += 1
            elif ch.isascii() and ch.isalpha():
                latin += 1
    return "zh" if cjk > latin else "en"


def _first_word(label: str) -> str:
    return label.split(",")[0].strip()


def summarize(short: ShortTerm, long: LongTerm, language: str) -> str:
    """One sentence from the user's top categories, topics and keyphrases, short and long
    term kept apart: "Lately: oolong, teaware. Over time: jazz, science fiction."

    A topic is named by the first keyword of its label, and only topics among the user's
    top ones (``short.topics``, ``long.topics``) are named.
    """

    def pick(*groups: list[str]) -> list[str]:
        out: list[str] = []
        for group in groups:
            for phrase in group:
                if phrase and phrase.lower() not in {p.lower() for p in out}:
                    out.append(phrase)
        return out[:4]

    lately = pick(
        [c.category for c in short.categories[:2]],
        [_first_word(t.label) for t in short.topics[:2]],
        [k.keyword for k in short.keywords[:2]],
    )
    over_time = pick(
        [_first_word(t.label) for t in long.topics[:2]], [k.keyword for k in long.keywords[:2]]
    )
    if language == "zh":
        parts = [f"最近：{'、'.join(lately)}。" if lately else "",
                 f"长期：{'、'.join(over_time)}。" if over_time else ""]  # fmt: skip
        return "".join(parts)
    parts = [f"Lately: {', '.join(lately)}." if lately else "",
             f"Over time: {', '.join(over_time)}." if over_time else ""]  # fmt: skip
    return " ".join(p for p in parts if p)


@dataclass
class Gathered:
    """What :meth:`Insight.gather` read under the engine's lock, for :meth:`Insight.describe`."""

    state: UserState
    recent: list[tuple[int, float, float]]
    short_texts: list[tuple[str, float]]
    long_texts: list[tuple[str, float]]
    categories: list[CategoryWeight]
    short_topics: list[TopicShare]
    long_topics: list[TopicShare]
    timeline: list[TimelinePoint]


class Insight:
    """Topics of the catalog and each user's interests in words."""

    def __init__(self, items: LiveItems, config: StateConfig, random_state: int) -> None:
        self.items = items
        self.config = config
        self.random_state = random_state
        self.topics: Any = None  # pulserec.text.topics.Topics, once fitted
        self.item_topic = np.zeros(0, dtype=np.int64)
        self._described: dict[str, tuple[int, Interests]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ topics
    def fit_topics(self, vectors: np.ndarray, texts: list[str], n_topics: int | None) -> None:
        """Cluster the catalog by the given item vectors and texts (one row per item)."""
        from pulserec.text.topics import fit_topics

        n = len(vectors)
        has_text = np.linalg.norm(vectors, axis=1) > 0
        if n < 4 or has_text.sum() < 4:
            return
        k = n_topics or int(np.clip(has_text.sum() // 25, 2, 30))
        topics = fit_topics(
            vectors[has_text], [t for t, ok in zip(texts, has_text, strict=True) if ok], k,
            random_state=self.random_state,
        )  # fmt: skip
        assigned = np.full(n, -1, dtype=np.int64)
        assigned[has_text] = topics.assign(vectors[has_text])
        with self._lock:
            self.topics, self.item_topic = topics, assigned
            self._described.clear()

    def topic_of(self, item: int) -> int:
        """The item's topic, -1 for none."""
        return int(self.item_topic[item]) if item < len(self.item_topic) else -1

    # ------------------------------------------------------------- interests
    def cached(self, user_id: str) -> Interests | None:
        """The user's last described interests, whatever events came since."""
        with self._lock:
            hit = self._described.get(user_id)
        return hit[1] if hit is not None else None

    def forget(self, user_id: str | None = None) -> None:
        """Drop one user's described interests, or everyone's."""
        with self._lock:
            if user_id is None:
                self._described.clear()
            else:
                self._described.pop(user_id, None)

    def gather(self, state: UserState) -> Interests | Gathered:
        """The user's interests if described since their last event, else what describing
        them needs from the catalog and the state (call under the engine's lock)."""
        with self._lock:
            hit = self._described.get(state.user_id)
        if hit is not None and hit[0] == state.n_events:
            return hit[1]
        at = self.items.catalog.at
        half_life = self.config.half_life_s
        now = state.last_ts or 0.0
        recent = [(i, w, ts) for i, w, ts in state.recent if w > 0]
        short_texts: list[tuple[str, float]] = []
        cats: dict[str, float] = {}
        for idx, w, ts in recent[-10:]:
            decay = 0.5 ** ((now - ts) / half_life)
            short_texts.append((item_text(at(idx), ", "), w * decay))
            for c in at(idx).categories:
                cats[c] = cats.get(c, 0.0) + w * decay
        for query, ts in state.queries:
            short_texts.append((query, 2.0 * 0.5 ** ((now - ts) / half_life)))
        seen = state.seen_items()[-100:]
        return Gathered(
            state=state,
            recent=recent,
            short_texts=short_texts,
            long_texts=[(item_text(at(int(i)), ", "), 1.0) for i in seen],
            categories=[
                CategoryWeight(c, round(v, 4))
                for c, v in sorted(cats.items(), key=lambda kv: -kv[1])[:10]
            ],
            short_topics=self._shares(
                [(i, w * 0.5 ** ((now - ts) / half_life)) for i, w, ts in recent]
            ),
            long_topics=self._shares([(int(i), 1.0) for i in seen]),
            timeline=self._timeline(recent[-20:]),
        )

    def describe(self, gathered: Interests | Gathered) -> Interests:
        """Finish what :meth:`gather` started: keywords (the slow part, no lock held)."""
        if isinstance(gathered, Interests):
            return gathered
        state, at = gathered.state, self.items.catalog.at
        short = ShortTerm(
            self._keywords(gathered.short_texts), gathered.categories, gathered.short_topics
        )
        long = LongTerm(self._keywords(gathered.long_texts), gathered.long_topics)
        language = language_of([t for t, _ in gathered.short_texts + gathered.long_texts])
        result = Interests(
            user_id=state.user_id,
            n_events=state.n_events,
            recent_items=[at(i).item_id for i, _, _ in reversed(gathered.recent[-10:])],
            queries=[q for q, _ in state.queries],
            short_term=short,
            long_term=long,
            timeline=gathered.timeline,
            summary=summarize(short, long, language),
            language=language,
        )
        with self._lock:
            self._described[state.user_id] = (state.n_events, result)
            if len(self._described) > 10_000:
                self._described.pop(next(iter(self._described)))
        return result

    def _keywords(self, texts: list[tuple[str, float]], k: int = 8) -> list[Keyword]:
        texts = [(t, w) for t, w in texts if t.strip() and w > 0]
        encoder = self.items.encoder
        if encoder is None or not texts:
            return []
        from pulserec.text.keywords import user_keywords

        return [
            Keyword(kw, round(float(score), 4)) for kw, score in user_keywords(texts, encoder, k=k)
        ]

    def _shares(self, weighted: list[tuple[int, float]]) -> list[TopicShare]:
        topics = self.topics
        if topics is None or not weighted:
            return []
        mix = np.zeros(topics.n_topics)
        for idx, w in weighted:
            t = self.topic_of(idx)
            if t >= 0:
                mix[t] += w
        total = mix.sum()
        if total <= 0:
            return []
        order = np.argsort(-mix)[:5]
        return [
            TopicShare(int(j), topics.labels[j], round(float(mix[j] / total), 4))
            for j in order
            if mix[j] > 0
        ]

    def _timeline(self, recent: list[tuple[int, float, float]]) -> list[TimelinePoint]:
        """Short-term topic mix after each of the given events (oldest first)."""
        if self.topics is None or not recent:
            return []
        labels = self.topics.labels
        mix = np.zeros(len(labels))
        out = []
        last_ts = recent[0][2]
        for idx, w, ts in recent:
            mix *= 0.5 ** (max(0.0, ts - last_ts) / self.config.half_life_s)
            mix *= self.config.event_decay
            last_ts = ts
            t = self.topic_of(idx)
            if t >= 0:
                mix[t] += w
            total = mix.sum()
            shares = {labels[j]: round(float(mix[j] / total), 4) for j in np.flatnonzero(mix > 0)}
            out.append(TimelinePoint(self.items.catalog.at(idx).item_id, ts, shares))
        return out
