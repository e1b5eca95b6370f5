"""Lists for a named placement: its sources, weights, filter, boost, seen and not-shown
rules, and its promotions.

Placements live in storage (documents of kind ``placement``) and are read again after
``refresh_s`` on shared storage, where another process may have changed them. A
placement's filter and the request's are both applied; their boosts add up.

Promotions: each promotion takes its pinned slots, or ``floor(share * k)`` slots, with
the best items that pass its filter (and the placement's), marked ``promoted``. The
rest of the list is ranked with every promotion's filter negated, so items of a
promotion never fill more than its slots, however well they score.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from pulserec.control import ExpressionError
from pulserec.control.placements import Placement, Promotion
from pulserec.control.shown import ShownLists
from pulserec.engine.features import NAMES
from pulserec.engine.rank import Ranker
from pulserec.engine.sources import SOURCES, Request
from pulserec.state.base import UserState
from pulserec.storage.base import Storage
from pulserec.types import ValidationError

log = logging.getLogger("pulserec.engine")

KIND = "placement"
"""The storage document kind of placements."""

Ranked = tuple[np.ndarray, np.ndarray, list[str]]


class Placer:
    """The placements of one deployment, and the lists recently shown to each user.

    Not thread-safe on its own: the engine calls it under its lock.
    """

    def __init__(self, storage: Storage, ranker: Ranker, *, refresh_s: float = 5.0) -> None:
        self.storage = storage
        self.ranker = ranker
        self.refresh_s = refresh_s if getattr(storage, "shared", False) else float("inf")
        self.shown = ShownLists()
        self._placements: dict[str, Placement] = {}
        self._read_at: float | None = None

    # ----------------------------------------------------------------- registry
    def load(self) -> None:
        """Read every stored placement (one that no longer validates is skipped)."""
        found = {}
        for name, body in self.storage.documents(KIND).items():
            try:
                found[name] = Placement.from_dict(name, json.loads(body))
            except (ValueError, ValidationError) as exc:
                log.warning("placement %r skipped: %s", name, exc)
        self._placements = found
        self._read_at = time.monotonic()

    def _fresh(self) -> dict[str, Placement]:
        if self._read_at is None or time.monotonic() - self._read_at > self.refresh_s:
            self.load()
        return self._placements

    def get(self, name: str) -> Placement | None:
        """The placement of that name, or None."""
        return self._fresh().get(name)

    def all(self) -> list[Placement]:
        """Every placement, by name."""
        return [p for _, p in sorted(self._fresh().items())]

    def check(self, placement: Placement) -> None:
        """Raise a ValidationError naming the first field the engine cannot serve."""
        if placement.sources is not None:
            for j, name in enumerate(placement.sources):
                if name not in SOURCES:
                    raise ValidationError(
                        f"sources.{j}", f"unknown source {name!r}; known: {sorted(SOURCES)}"
                    )
        for name in placement.weights:
            if name not in NAMES:
                raise ValidationError(
                    f"weights.{name}", f"unknown feature {name!r}; known: {list(NAMES)}"
                )
        self.ranker.check(placement.filter, placement.boost)
        for j, promotion in enumerate(placement.promotions):
            try:
                self.ranker.items.expressions.compiled(promotion.filter, "filter")
            except ExpressionError as exc:
                raise ValidationError(f"promotions.{j}.filter", str(exc)) from None

    def put(self, placement: Placement) -> None:
        """Check and store a placement (replacing one of the same name)."""
        self.check(placement)
        self.storage.put_document(KIND, placement.name, placement.to_json())
        self._fresh()[placement.name] = placement

    def delete(self, name: str) -> bool:
        """Remove a placement; False when there was none."""
        existed = self._fresh().pop(name, None) is not None
        self.storage.put_document(KIND, name, None)
        return existed

    @property
    def tracks_shown(self) -> bool:
        """Whether any placement has a not-shown rule (lists are recorded only then)."""
        return any(
            p.not_shown_lists is not None or p.not_shown_minutes is not None
            for p in self._fresh().values()
        )

    # ------------------------------------------------------------------ ranking
    def rank(
        self,
        request: Request,
        placement: Placement,
        k: int,
        *,
        diversity: float,
        category: str | None,
        exclude: Iterable[str],
        exclude_seen: bool,
        filter: str | None,
        boost: str | None,
        now: float | None = None,
        context: int | None = None,
        weight_factors: Mapping[str, float] | None = None,
    ) -> Ranked:
        """The top ``k`` items for this placement, their scores and reasons
        (``weight_factors``: an experiment variant's, on top of the placement's weights)."""
        now = time.time() if now is None else now
        p = placement
        # the request's own expressions first: an error's position is then in its text
        self.ranker.check(filter, boost)
        exclude = list(exclude)
        if p.not_shown_lists is not None or p.not_shown_minutes is not None:
            seconds = None if p.not_shown_minutes is None else 60.0 * p.not_shown_minutes
            exclude += sorted(
                self.shown.recent(request.user_id, lists=p.not_shown_lists, seconds=seconds,
                                  now=now)
            )  # fmt: skip
        seen = None
        if p.repeat_after_days is not None and request.state is not None:
            seen = seen_within(request.state, 86_400.0 * p.repeat_after_days, now)
        common: dict[str, Any] = {
            "diversity": diversity, "category": category,
            "exclude_seen": exclude_seen and p.exclude_seen, "boost": plus(p.boost, boost),
            "sources": p.sources, "weights": p.weights or None, "seen": seen,
            "context": context, "weight_factors": weight_factors,
        }  # fmt: skip
        base = both(p.filter, filter)
        if not p.promotions:
            return self.ranker.recommend(request, k, filter=base, exclude=exclude, **common)
        counts = [promotion.count(k) for promotion in p.promotions]
        organic_filter = both(base, " and ".join(f"not ({pr.filter})" for pr in p.promotions))
        organic = self.ranker.recommend(
            request, max(k - sum(counts), 0), filter=organic_filter, exclude=exclude, **common
        )
        ids = self.ranker.items.catalog.id_map
        taken = [str(i) for i in ids.ids(organic[0])]
        promoted: list[tuple[Promotion, Ranked]] = []
        for promotion, count in zip(p.promotions, counts, strict=True):
            if count == 0:
                continue
            found = self.ranker.recommend(
                request, count, filter=both(base, promotion.filter), exclude=exclude + taken,
                **common,
            )  # fmt: skip
            taken += [str(i) for i in ids.ids(found[0])]
            promoted.append((promotion, found))
        return merge(organic, promoted)


def merge(organic: Ranked, promoted: list[tuple[Promotion, Ranked]]) -> Ranked:
    """The organic list with each promotion's items put in: at their pinned slots, or
    before the first organic item they outscore; their reason is ``promoted``."""
    rows = list(zip(organic[0].tolist(), organic[1].tolist(), organic[2], strict=True))
    pinned: list[tuple[int, tuple[int, float, str]]] = []
    for promotion, (idx, scores, _) in promoted:
        entries = [(int(i), float(s), "promoted") for i, s in zip(idx, scores, strict=True)]
        if promotion.slots:
            pinned += list(zip(promotion.slots, entries, strict=False))
            continue
        for entry in entries:
            at = next((j for j, row in enumerate(rows) if row[1] < entry[1]), len(rows))
            rows.insert(at, entry)
    for slot, entry in sorted(pinned):
        rows.insert(min(slot, len(rows)), entry)
    picked = np.asarray([r[0] for r in rows], dtype=np.int64)
    return picked, np.asarray([r[1] for r in rows]), [r[2] for r in rows]


def both(a: str | None, b: str | None) -> str | None:
    """Two filters that must both hold (either may be absent)."""
    if not a or not b:
        return a or b or None
    return f"({a}) and ({b})"


def plus(a: str | None, b: str | None) -> str | None:
    """Two boosts added (either may be absent)."""
    if not a or not b:
        return a or b or None
    return f"({a}) + ({b})"


def seen_within(state: UserState, seconds: float, now: float) -> np.ndarray:
    """The user's items seen in the last ``seconds`` (others may be shown again).

    The state keeps times for its latest events only: while the window reaches back
    past the oldest of them, every seen item counts as seen.
    """
    cutoff = now - seconds
    recent = state.recent
    if recent.maxlen is not None and len(recent) == recent.maxlen:
        if min(ts for _, _, ts in recent) >= cutoff:
            return state.seen_items()
    latest = {int(item) for item, _, ts in recent if ts >= cutoff}
    return np.fromiter(sorted(latest), dtype=np.int64, count=len(latest))
