"""Folding one event into a user's state: the one rule ingest, restore and training share.

Which item vectors an event moves the state by depends on the models it is folded
against (the serving ones, or a refit's while it replays its validation window); the
text side reads the live catalog's embeddings, sentiment signs comments, and a frozen
fold (the replay's baseline) only marks items as seen.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from pulserec.engine.arrays import unit
from pulserec.engine.foldin import text_priors
from pulserec.engine.items import LiveItems
from pulserec.engine.modelset import ModelSet
from pulserec.state.base import StateConfig, UserState, apply_event
from pulserec.text.base import TextEncoder
from pulserec.types import NEGATIVE_TYPES, Event


class Sentiment(Protocol):
    """What folding needs of a sentiment model: P(positive) per text."""

    def predict_proba(self, texts: list[str]) -> np.ndarray: ...


class Folder:
    """Applies events to user states; O(dim) per event, no refit."""

    def __init__(
        self,
        items: LiveItems,
        config: StateConfig,
        encoder: TextEncoder | None = None,
        sentiment: Sentiment | None = None,
    ) -> None:
        self.items = items
        self.config = config
        self.encoder = encoder
        self.sentiment = sentiment

    def factor_vector(self, models: ModelSet, item_idx: int) -> np.ndarray | None:
        """The item's unit factor vector: fitted, or for an item without a training event
        the one its text predicts (zero for an item of the models without either, None
        for one after them)."""
        known = item_idx < models.n_items
        if known and models.popularity[item_idx] > 0:
            return models.item_unit[item_idx]  # type: ignore[no-any-return]
        prior, predicted = text_priors(models, np.array([item_idx]), self.items.text_rows)
        if prior[0]:
            vector = unit(predicted[0])
            if vector is not None:
                return vector
        return models.item_unit[item_idx] if known else None

    def fold(
        self,
        state: UserState,
        event: Event,
        spam: bool,
        models: ModelSet | None,
        *,
        realtime: bool = True,
    ) -> None:
        """Apply ``event`` to ``state`` against ``models``.

        An event on an item not in the catalog yet is noted, so the user's state can be
        rebuilt once the item arrives. ``realtime=False`` keeps interests where they are:
        only the bookkeeping of what the user has seen moves.
        """
        item_idx = self.items.index_of(event)
        if not realtime:
            if item_idx is not None and event.type not in NEGATIVE_TYPES:
                state.seen[item_idx] = None
            state.n_events += 1
            return
        item_cf = None
        if item_idx is not None and models is not None:
            item_cf = self.factor_vector(models, item_idx)
        has_text = item_idx is not None and self.encoder is not None
        item_text = self.items.text[item_idx] if has_text else None
        query_vec = None
        if event.type == "search" and event.text and self.encoder is not None:
            query_vec = self.encoder.encode([event.text], kind="query")[0]
        sentiment = None
        if event.type == "comment" and event.text and self.sentiment is not None:
            sentiment = float(self.sentiment.predict_proba([event.text])[0])
        apply_event(
            state,
            self.config,
            event_type=event.type,
            timestamp=event.timestamp,
            item_idx=item_idx,
            value=event.value,
            item_cf=item_cf,
            item_text=item_text,
            query_text=query_vec,
            query=event.text if event.type == "search" else None,
            sentiment=sentiment,
            spam=spam,
        )
