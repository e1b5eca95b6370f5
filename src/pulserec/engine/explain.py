"""The reason shown with each recommended item, from what most contributed to its score."""

from __future__ import annotations

import numpy as np

from pulserec.engine.arrays import csr_block
from pulserec.engine.features import FEATURES, NAMES
from pulserec.engine.insight import Insight, language_of
from pulserec.engine.items import LiveItems, item_text
from pulserec.engine.modelset import ModelSet
from pulserec.state.base import UserState

_EXPLAINING = np.array([j for j, f in enumerate(FEATURES) if f.explains])
_TEXT = NAMES.index("text")
_SCALES = np.array([NAMES.index(n) for n in ("trending", "trending_fast", "trending_now")])
"""The same counts at three time scales: their weights may pull against each other (an
item hot this hour but quiet these ten minutes), so they explain together, as the scale
that adds the most."""

PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "new": "new and close to your interests",
        "new_interest": "new, close to your interest in {word}",
        "next": "often comes next after {title}",
        "similar": "similar to {title} you just engaged with",
        "search": "matches your search for “{query}”",
        "interest": "matches your interest in {word}",
        "others": "people who engaged with {title} went on to it",
        "long_term": "fits your long-term taste",
        "category_now": "popular in {category} now",
        "category_favourite": "a favourite in {category}",
        "minutes": "popular right now",
        "hour": "popular this hour",
        "now": "popular now",
        "popular": "a favourite of many",
        "appeal": "taken by many since it came out",
        "just_out": "just out",
        "category_new": "just out in {category}",
    },
    "zh": {
        "new": "新上架，贴近你的兴趣",
        "new_interest": "新上架，贴近你对{word}的兴趣",
        "next": "常在{title}之后被看",
        "similar": "与你刚看过的{title}相似",
        "search": "符合你的搜索“{query}”",
        "interest": "符合你对{word}的兴趣",
        "others": "看过{title}的人接着看了它",
        "long_term": "符合你的长期口味",
        "category_now": "{category}类最近热门",
        "category_favourite": "{category}类很多人喜欢",
        "minutes": "此刻热门",
        "hour": "本小时热门",
        "now": "最近热门",
        "popular": "很多人喜欢",
        "appeal": "上架以来很多人选",
        "just_out": "新上架",
        "category_new": "{category}类新上架",
    },
}
"""Each reason in the languages a user's text can be in (``insight.language_of``)."""
_SIMILAR = ("short_term", "covisit", "covisit_live")
_FAVOURITES = ("category_popular", "category_belief", "category_appeal")


class Explainer:
    """Turns each item's per-feature score contributions into a sentence."""

    def __init__(self, items: LiveItems, insight: Insight, n_recent: int) -> None:
        self.items = items
        self.insight = insight
        self.n_recent = n_recent

    def reasons(
        self,
        models: ModelSet | None,
        state: UserState | None,
        picked: np.ndarray,
        contrib: np.ndarray,
    ) -> list[str]:
        """One reason per picked item; ``contrib`` is features times weights, per item."""
        reasons = []
        recent = state.recent_items(self.n_recent) if state is not None else []
        # a query explains text matches only while it is the user's latest move
        searched_last = bool(
            state is not None
            and state.queries
            and (not state.recent or state.queries[-1][1] >= state.recent[-1][2])
        )
        title = self.items.title
        words = PHRASES[self._language(state, recent)]
        covisits: np.ndarray | None = None  # covisit[recent, picked], read once when needed
        for row, item in enumerate(picked.tolist()):
            c = contrib[row].copy()
            scales = c[_SCALES]
            c[_SCALES] = 0.0
            c[_SCALES[np.argmax(scales)]] = scales.sum()
            if not self.items.has_text[item]:
                c[_TEXT] = 0.0  # no text, no text claims (its score there is a neutral fill)
            explaining = c[_EXPLAINING]
            best = NAMES[_EXPLAINING[np.argmax(explaining)]] if explaining.max() > 0 else ""
            new = self.items.interactions[item] == 0
            if new and c[_TEXT] > 0:
                if state is None:
                    reasons.append(words["new"])
                else:
                    word = self._interest_word(item, state, recent)
                    reasons.append(words["new_interest"].format(word=word))
            elif best == "sequential" and recent:
                reasons.append(words["next"].format(title=title(recent[0])))
            elif best in _SIMILAR and recent and models is not None:
                if covisits is None:
                    covisits = self._covisits(models, recent, picked)
                anchor = title(self._anchor(models, item, recent, covisits[:, row]))
                reasons.append(words["similar"].format(title=anchor))
            elif best == "text" and state is not None:
                if searched_last:
                    reasons.append(words["search"].format(query=state.queries[-1][0]))
                else:
                    word = self._interest_word(item, state, recent)
                    reasons.append(words["interest"].format(word=word))
            elif best in ("session", "latest_knn") and recent:
                reasons.append(words["others"].format(title=title(recent[0])))
            elif best == "long_term":
                reasons.append(words["long_term"])
            elif best == "category_trending" and (group := self._group(item, state)):
                reasons.append(words["category_now"].format(category=group))
            elif best in _FAVOURITES and (group := self._group(item, state)):
                reasons.append(words["category_favourite"].format(category=group))
            elif best == "trending_now":
                reasons.append(words["minutes"])
            elif best in ("trending_fast", "fresh_trending"):
                reasons.append(words["hour"])
            elif best == "popular":
                reasons.append(words["popular"])
            elif best == "appeal":
                reasons.append(words["appeal"])
            elif best == "category_recency" and (group := self._group(item, state)):
                reasons.append(words["category_new"].format(category=group))
            elif best in ("recency", "category_recency"):
                reasons.append(words["just_out"])
            else:
                reasons.append(words["now"])
        return reasons

    def _language(self, state: UserState | None, recent: list[int]) -> str:
        """The language of most of the user's latest text: their items' titles, searches."""
        if state is None:
            return "en"
        at = self.items.catalog.at
        texts = [at(i).title or "" for i in recent[:5]] + [q for q, _ in state.queries][-3:]
        return language_of(texts)

    @staticmethod
    def _covisits(models: ModelSet, recent: list[int], picked: np.ndarray) -> np.ndarray:
        """Co-visitation counts of the recent items (rows; those the models know) with
        the picked ones (columns), 0 where there is none."""
        rec = [r for r in recent if r < models.n_items]
        return csr_block(models.covisit, rec, picked)

    def _anchor(self, models: ModelSet, item: int, recent: list[int], cov: np.ndarray) -> int:
        """The recent item that most explains a recommendation (``cov``: its
        co-visitation with the recent items the models know, from :meth:`_covisits`)."""
        rec = [r for r in recent if r < models.n_items]
        if not rec or item >= models.n_items:
            return recent[0]
        if cov.max() > 0:
            return rec[int(np.argmax(cov))]
        sims = models.item_unit[rec] @ models.item_unit[item]
        return rec[int(np.argmax(sims))]

    def _group(self, item: int, state: UserState | None) -> str:
        """The name of the item's group in the category signals: its first category, else
        (grouped by its text, :mod:`~pulserec.engine.texttopics`) a word of its text the
        user's keywords or its topic's hold; "" when there is none."""
        cats = self.items.catalog.at(item).categories
        if cats:
            return cats[0]
        if self.items.category[item] < 0:
            return ""
        return self._text_word(item, state) or ""

    def _text_word(self, item: int, state: UserState | None) -> str | None:
        """One of the user's keywords found in the item's text, else a keyword of its
        topic found there; None when neither is."""
        text = item_text(self.items.catalog.at(item)).lower()
        described = self.insight.cached(state.user_id) if state is not None else None
        if described is not None:
            for kw in described.short_term.keywords:
                if kw.keyword.lower() in text:
                    return kw.keyword
        topics, topic = self.insight.topics, self.insight.topic_of(item)
        if topics is not None and topic >= 0:
            for word in topics.keywords[topic]:
                if word.lower() in text:
                    return str(word)
        return None

    def _interest_word(self, item: int, state: UserState, recent: list[int]) -> str:
        """Why an item matches, in a word: one of the user's keywords found in its text,
        else a keyword of its topic, else a category it shares with recent items."""
        word = self._text_word(item, state)
        if word is not None:
            return word
        at = self.items.catalog.at
        cats = at(item).categories
        recent_cats = {c for r in recent for c in at(r).categories}
        shared = [c for c in cats if c in recent_cats]
        if shared:
            return shared[0]
        return cats[0] if cats else "what you read"
