"""Experiments: variants as overrides of engine settings, users assigned by a stable hash.

A user's slot is ``sha256(experiment name, user id) mod 10000``; each variant owns ranges
of slots in proportion to its traffic share, and slots no variant owns are outside the
experiment (served the engine's own settings, counted under variant ``""``). The
assignment needs no stored state and is sticky: the same user lands in the same variant
in every process and after every restart. A variant added later takes only free slots,
so users already assigned never move.

Peeking protection is a fixed horizon: each experiment declares how many users every
variant needs (``horizon_users``); its report gives a decision only once every variant has
reached it. Interim p-values are shown, marked as not final.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

SLOTS = 10_000
"""Hash slots; a share is a whole number of them (a resolution of 0.01%)."""


@dataclass(frozen=True)
class Overrides:
    """What a variant changes, each None for "as configured".

    ``diversity``: MMR trade-off in [0, 1], replacing the request's; ``realtime``: False
    keeps the user's interests where they were when the experiment started (events still
    mark items seen); ``sequential``: False drops the transformer (its source and feature);
    ``sources``: the candidate sources to use; ``weights``: feature name -> factor applied to
    its fitted blend weight (0 switches it off); ``exploration``: the chance that each
    position after the first shows an under-exposed item instead.
    """

    diversity: float | None = None
    realtime: bool | None = None
    sequential: bool | None = None
    sources: tuple[str, ...] | None = None
    weights: dict[str, float] | None = None
    exploration: float | None = None

    def ranking(
        self, diversity: float, configured: tuple[str, ...]
    ) -> tuple[float, tuple[str, ...] | None, dict[str, float] | None]:
        """What a request ranks with under these overrides: its diversity, the candidate
        sources (None: as configured) and factors on named feature weights (None: none).
        ``configured`` are the engine's sources, which dropping the transformer edits."""
        sources, factors = self.sources, dict(self.weights or {})
        if self.sequential is False:
            sources = tuple(n for n in (sources or configured) if n != "sequential")
            factors["sequential"] = 0.0
        chosen = self.diversity if self.diversity is not None else diversity
        return chosen, sources, factors or None

    @classmethod
    def parse(cls, raw: dict[str, Any], *, sources: set[str], features: set[str]) -> Overrides:
        """Checked overrides; a ValueError names the offending key and what it accepts."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"overrides: unknown key(s) {unknown}; known: {sorted(known)}")
        out: dict[str, Any] = {}
        for name in ("diversity", "exploration"):
            if raw.get(name) is not None:
                v = raw[name]
                if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
                    raise ValueError(f"overrides.{name}: expected a number in [0, 1], got {v!r}")
                out[name] = float(v)
        for name in ("realtime", "sequential"):
            if raw.get(name) is not None:
                if not isinstance(raw[name], bool):
                    raise ValueError(f"overrides.{name}: expected true or false")
                out[name] = raw[name]
        if raw.get("sources") is not None:
            names = raw["sources"]
            if not isinstance(names, list | tuple) or not names:
                raise ValueError("overrides.sources: expected a non-empty list of source names")
            bad = sorted(set(map(str, names)) - sources)
            if bad:
                raise ValueError(f"overrides.sources: unknown {bad}; known: {sorted(sources)}")
            out["sources"] = tuple(str(n) for n in names)
        if raw.get("weights") is not None:
            w = raw["weights"]
            if not isinstance(w, dict):
                raise ValueError("overrides.weights: expected {feature: factor}")
            bad = sorted(set(w) - features)
            if bad:
                raise ValueError(f"overrides.weights: unknown {bad}; known: {sorted(features)}")
            for k, v in w.items():
                if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 100:
                    raise ValueError(
                        f"overrides.weights.{k}: expected a factor in [0, 100], got {v!r}"
                    )
            out["weights"] = {str(k): float(v) for k, v in w.items()}
        return cls(**out)

    def to_dict(self) -> dict[str, Any]:
        """The overrides that are set, as JSON-ready values."""
        d = {k: v for k, v in asdict(self).items() if v is not None}
        if "sources" in d:
            d["sources"] = list(d["sources"])
        return d


@dataclass
class Variant:
    """One arm: a name, its share of traffic (the slots it owns) and its overrides."""

    name: str
    share: float
    slots: list[tuple[int, int]]
    overrides: Overrides = field(default_factory=Overrides)


@dataclass
class Experiment:
    """A named comparison of variants; ``status`` is running, stopped or concluded.

    ``start_seq`` / ``stop_seq`` bound the log's events it covers (a ``realtime: false``
    variant keeps interests still for exactly those); ``salt`` seeds the user hash
    (default the name), so a rerun of an A/A test can draw a fresh split.
    """

    name: str
    variants: list[Variant]
    created_at: float
    start_seq: int = 0
    status: str = "running"
    stopped_at: float | None = None
    stop_seq: int | None = None
    winner: str | None = None
    horizon_users: int = 1000
    salt: str = ""

    def slot(self, user_id: str) -> int:
        """The user's slot in [0, SLOTS): stable across processes and restarts."""
        key = f"{self.salt or self.name}\x00{user_id}".encode("utf-8", "surrogatepass")
        return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % SLOTS

    def variant_of(self, user_id: str) -> Variant | None:
        """The user's variant, or None when their slot is outside every variant."""
        s = self.slot(user_id)
        for v in self.variants:
            for lo, hi in v.slots:
                if lo <= s < hi:
                    return v
        return None

    def free_slots(self) -> list[tuple[int, int]]:
        """Slot ranges no variant owns, in order."""
        taken = sorted(r for v in self.variants for r in v.slots)
        free, at = [], 0
        for lo, hi in taken:
            if lo > at:
                free.append((at, lo))
            at = max(at, hi)
        if at < SLOTS:
            free.append((at, SLOTS))
        return free

    def add_variant(self, name: str, share: float, overrides: Overrides) -> Variant:
        """A new variant owning ``share`` of all traffic, taken from free slots only."""
        if any(v.name == name for v in self.variants):
            raise ValueError(f"variants: {name!r} is already a variant of {self.name!r}")
        if not name or not name.strip():
            raise ValueError("variants: a variant needs a non-empty name")
        if not 0 < share <= 1:
            raise ValueError(f"variants.{name}.share: expected a share in (0, 1], got {share}")
        need = round(share * SLOTS)
        free = self.free_slots()
        if need < 1 or need > sum(hi - lo for lo, hi in free):
            left = sum(hi - lo for lo, hi in free) / SLOTS
            raise ValueError(
                f"variants.{name}.share: {share} asked, {left:.4f} of traffic is free "
                "(old users keep their variant, so a new one only takes unassigned traffic)"
            )
        slots = []
        for lo, hi in free:
            take = min(need, hi - lo)
            slots.append((lo, lo + take))
            need -= take
            if need == 0:
                break
        variant = Variant(name, share, slots, overrides)
        self.variants.append(variant)
        return variant

    def covers(self, seq: int) -> bool:
        """Whether the log's event ``seq`` falls while the experiment runs."""
        return seq > self.start_seq and (self.stop_seq is None or seq <= self.stop_seq)

    def to_json(self) -> str:
        d = asdict(self)
        d["variants"] = [
            {"name": v.name, "share": v.share, "slots": [list(r) for r in v.slots],
             "overrides": v.overrides.to_dict()}
            for v in self.variants
        ]  # fmt: skip
        return json.dumps(d, ensure_ascii=False)

    @classmethod
    def from_json(cls, document: str) -> Experiment:
        d = json.loads(document)
        variants = []
        for v in d.pop("variants"):
            o = dict(v["overrides"])
            if "sources" in o:
                o["sources"] = tuple(o["sources"])
            variants.append(
                Variant(v["name"], v["share"], [tuple(r) for r in v["slots"]], Overrides(**o))
            )
        return cls(variants=variants, **d)
