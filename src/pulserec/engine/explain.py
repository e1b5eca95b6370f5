"""The reason shown with each recommended item, from what most contributed to its score."""

from __future__ import annotations

import numpy as np

from pulserec.engine.arrays import csr_column_values
from pulserec.engine.features import FEATURES, NAMES
from pulserec.engine.insight import Insight
from pulserec.engine.items import LiveItems, item_text
from pulserec.engine.modelset import ModelSet
from pulserec.state.base import UserState

_EXPLAINING = np.array([j for j, f in enumerate(FEATURES) if f.explains])
_TEXT = NAMES.index("text")
_SIMILAR = ("short_term", "covisit", "covisit_live")


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
        for row, item in enumerate(picked.tolist()):
            c = contrib[row].copy()
            if not self.items.has_text[item]:
                c[_TEXT] = 0.0  # no text, no text claims (its score there is a neutral fill)
            explaining = c[_EXPLAINING]
            best = NAMES[_EXPLAINING[np.argmax(explaining)]] if explaining.max() > 0 else ""
            new = self.items.interactions[item] == 0
            if new and c[_TEXT] > 0:
                reasons.append("new and close to your interests")
            elif best == "sequential" and recent:
                reasons.append(f"often comes next after {title(recent[0])}")
            elif best in _SIMILAR and recent and models is not None:
                reasons.append(
                    f"similar to {title(self._anchor(models, item, recent))} you just engaged with"
                )
            elif best == "text" and state is not None:
                if searched_last:
                    reasons.append(f"matches your search for “{state.queries[-1][0]}”")
                else:
                    word = self._interest_word(item, state, recent)
                    reasons.append(f"matches your interest in {word}")
            elif best == "session" and recent:
                reasons.append(f"people who engaged with {title(recent[0])} went on to it")
            elif best == "long_term":
                reasons.append("fits your long-term taste")
            else:
                reasons.append("popular now")
        return reasons

    def _anchor(self, models: ModelSet, item: int, recent: list[int]) -> int:
        """The recent item that most explains a recommendation."""
        rec = [r for r in recent if r < models.n_items]
        if not rec or item >= models.n_items:
            return recent[0]
        cov = csr_column_values(models.covisit, rec, item)
        if cov.max() > 0:
            return rec[int(np.argmax(cov))]
        sims = models.item_unit[rec] @ models.item_unit[item]
        return rec[int(np.argmax(sims))]

    def _interest_word(self, item: int, state: UserState, recent: list[int]) -> str:
        """Why an item matches, in a word: one of the user's keywords found in its text,
        else a keyword of its topic, else a category it shares with recent items."""
        at = self.items.catalog.at
        text = item_text(at(item)).lower()
        described = self.insight.cached(state.user_id)
        if described is not None:
            for kw in described.short_term.keywords:
                if kw.keyword.lower() in text:
                    return kw.keyword
        topics, topic = self.insight.topics, self.insight.topic_of(item)
        if topics is not None and topic >= 0:
            for word in topics.keywords[topic]:
                if word.lower() in text:
                    return str(word)
        cats = at(item).categories
        recent_cats = {c for r in recent for c in at(r).categories}
        shared = [c for c in cats if c in recent_cats]
        if shared:
            return shared[0]
        return cats[0] if cats else "what you read"
