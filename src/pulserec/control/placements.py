"""Placements: named list configurations (home, item page, cart, email), and promotions.

A placement is stored as JSON in the deployment's storage and applied to every list
asked for with its name. Every field is optional::

    {"k": 8, "sources": ["covisit", "session"], "weights": {"trending": 0.0},
     "filter": "item.stock", "boost": "0.2 * (item.brand == 'acme')", "diversity": 0.3,
     "exclude_seen": true, "repeat_after_days": 30,
     "not_shown": {"lists": 3, "minutes": 60},
     "promotions": [{"filter": "item.sponsored", "share": 0.2},
                    {"filter": "item.brand == 'acme'", "slots": [0]}]}

Names of sources and weights are checked by the engine, which knows its registries.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from pulserec.types import ValidationError

MAX_K = 100
"""Longest list a placement may ask for."""


@dataclass(frozen=True)
class Promotion:
    """Items passing ``filter`` get pinned ``slots`` (0-based positions) or at most a
    ``share`` of the list (rounded down), marked with the reason ``promoted``."""

    filter: str
    share: float | None = None
    slots: tuple[int, ...] = ()

    def count(self, k: int) -> int:
        """How many slots this promotion may take in a list of ``k``."""
        if self.slots:
            return sum(1 for s in self.slots if s < k)
        return math.floor((self.share or 0.0) * k + 1e-9)


@dataclass(frozen=True)
class Placement:
    """One named list configuration (see the module docstring)."""

    name: str
    k: int | None = None
    sources: tuple[str, ...] | None = None
    weights: dict[str, float] = field(default_factory=dict)
    filter: str | None = None
    boost: str | None = None
    diversity: float | None = None
    exclude_seen: bool = True
    repeat_after_days: float | None = None
    not_shown_lists: int | None = None
    not_shown_minutes: float | None = None
    promotions: tuple[Promotion, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the one :meth:`from_dict` reads), without the name."""
        out: dict[str, Any] = {}
        raw = asdict(self)
        for key in ("k", "filter", "boost", "diversity", "repeat_after_days"):
            if raw[key] is not None:
                out[key] = raw[key]
        if self.sources is not None:
            out["sources"] = list(self.sources)
        if self.weights:
            out["weights"] = dict(self.weights)
        if not self.exclude_seen:
            out["exclude_seen"] = False
        if self.not_shown_lists is not None or self.not_shown_minutes is not None:
            out["not_shown"] = {
                key: value
                for key, value in (
                    ("lists", self.not_shown_lists),
                    ("minutes", self.not_shown_minutes),
                )
                if value is not None
            }
        if self.promotions:
            out["promotions"] = [
                {
                    "filter": p.filter,
                    **({"slots": list(p.slots)} if p.slots else {"share": p.share}),
                }
                for p in self.promotions
            ]
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, name: str, body: object) -> Placement:
        """A placement from its JSON form.

        Raises
        ------
        ValidationError
            Naming the field (``promotions.1.share``) and what was expected.
        """
        if not isinstance(body, dict):
            raise ValidationError("placement", "expected a JSON object")
        known = {
            "k", "sources", "weights", "filter", "boost", "diversity", "exclude_seen",
            "repeat_after_days", "not_shown", "promotions",
        }  # fmt: skip
        for key in body:
            if key not in known:
                raise ValidationError(str(key), f"unknown field; known: {sorted(known)}")
        k = _opt(body, "k", _integer, 1, MAX_K)
        sources = body.get("sources")
        if sources is not None:
            if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
                raise ValidationError("sources", "expected a list of source names")
            sources = tuple(sources)
        weights = body.get("weights", {})
        if not isinstance(weights, dict):
            raise ValidationError("weights", "expected an object of feature name to weight")
        for key, value in weights.items():
            _number(f"weights.{key}", value, -1e6, 1e6)
        not_shown = body.get("not_shown", {})
        if not isinstance(not_shown, dict) or set(not_shown) - {"lists", "minutes"}:
            raise ValidationError("not_shown", 'expected {"lists": n, "minutes": m}')
        promotions = body.get("promotions", [])
        if not isinstance(promotions, list):
            raise ValidationError("promotions", "expected a list of promotions")
        exclude_seen = body.get("exclude_seen", True)
        if not isinstance(exclude_seen, bool):
            raise ValidationError("exclude_seen", "expected true or false")
        placement = cls(
            name=name,
            k=k,
            sources=sources,
            weights={str(key): float(v) for key, v in weights.items()},
            filter=_opt(body, "filter", _text),
            boost=_opt(body, "boost", _text),
            diversity=_opt(body, "diversity", _number, 0.0, 1.0),
            exclude_seen=exclude_seen,
            repeat_after_days=_opt(body, "repeat_after_days", _number, 0.0, 36_500.0),
            not_shown_lists=_opt(not_shown, "lists", _integer, 1, 1000, "not_shown."),
            not_shown_minutes=_opt(not_shown, "minutes", _number, 0.0, 525_600.0, "not_shown."),
            promotions=tuple(_promotion(j, p) for j, p in enumerate(promotions)),
        )
        taken = [s for p in placement.promotions for s in p.slots]
        if len(taken) != len(set(taken)):
            raise ValidationError("promotions", "two promotions pin the same slot")
        share = sum(p.share or 0.0 for p in placement.promotions)
        if share > 1.0:
            raise ValidationError("promotions", f"the shares add up to {share:g}, over 1")
        return placement


def _promotion(j: int, body: object) -> Promotion:
    where = f"promotions.{j}"
    if not isinstance(body, dict) or set(body) - {"filter", "share", "slots"}:
        raise ValidationError(where, 'expected {"filter": ..., "share": s} or "slots": [...]')
    text = _text(f"{where}.filter", body.get("filter"))
    share, slots = body.get("share"), body.get("slots")
    if (share is None) == (slots is None):
        raise ValidationError(where, "give either a share or slots")
    if slots is not None:
        if not isinstance(slots, list) or not slots:
            raise ValidationError(f"{where}.slots", "expected a list of 0-based positions")
        return Promotion(
            text,
            slots=tuple(sorted(_integer(f"{where}.slots.{i}", s, 0, MAX_K - 1)
                               for i, s in enumerate(slots))),
        )  # fmt: skip
    return Promotion(text, share=_number(f"{where}.share", share, 0.0, 1.0))


def _opt(body: dict[str, Any], key: str, check: Any, *bounds: Any) -> Any:
    prefix = bounds[2] if len(bounds) > 2 else ""
    value = body.get(key)
    if value is None:
        return None
    return check(f"{prefix}{key}", value, *bounds[:2])


def _integer(where: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValidationError(where, f"expected an integer in [{lo}, {hi}], got {value!r}")
    return value


def _number(where: str, value: object, lo: float, hi: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not lo <= value <= hi
    ):
        raise ValidationError(where, f"expected a number in [{lo:g}, {hi:g}], got {value!r}")
    return float(value)


def _text(where: str, value: object, *_: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(where, "expected an expression (a non-empty string)")
    return value
