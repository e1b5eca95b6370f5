"""Online metrics per placement and variant, in one-minute buckets.

Impressions are the items of served lists (one per item and list), clicks and conversions
the attributed events, each counted in the bucket of the list it is credited to, so a
bucket's CTR compares like with like. Coverage is the share of the catalog served at
least once in the window; novelty the mean self-information of served items.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pulserec.online.attribution import kind_of
from pulserec.online.base import Attribution, ServedList

BUCKET_S = 60.0
MAX_POSITION = 100
MAX_TTC_SAMPLES = 200
"""Times to click kept per bucket and cell (for medians)."""


@dataclass
class Cell:
    """Counts of one (bucket, placement, variant)."""

    lists: int = 0
    impressions: int = 0
    clicks: int = 0
    conversions: int = 0
    novelty_sum: float = 0.0
    pos_impressions: np.ndarray = field(default_factory=lambda: np.zeros(MAX_POSITION, np.int64))
    pos_clicks: np.ndarray = field(default_factory=lambda: np.zeros(MAX_POSITION, np.int64))
    ttc: list[float] = field(default_factory=list)
    items: set[str] = field(default_factory=set)

    def merge(self, other: Cell) -> None:
        self.lists += other.lists
        self.impressions += other.impressions
        self.clicks += other.clicks
        self.conversions += other.conversions
        self.novelty_sum += other.novelty_sum
        self.pos_impressions += other.pos_impressions
        self.pos_clicks += other.pos_clicks
        self.ttc += other.ttc
        self.items |= other.items


def wilson(clicks: float, n: float, z: float = 1.96) -> tuple[float, float]:
    """Wilson 95% interval of a proportion (per-bucket bands on the dashboard)."""
    if n <= 0:
        return 0.0, 0.0
    p = clicks / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


class OnlineCounts:
    """Rolling counts; ``totals`` (since start) feed Prometheus counters."""

    def __init__(self, retention_s: float = 7 * 86400.0) -> None:
        self.retention_s = retention_s
        self.cells: dict[tuple[int, str, str], Cell] = {}
        self.totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        self.clicks_by_position: dict[tuple[str, int], int] = defaultdict(int)
        self.shown: dict[str, int] = defaultdict(int)
        """Impressions per item id (exploration picks under-exposed items from it)."""

    def _cell(self, ts: float, placement: str, variant: str) -> Cell:
        key = (int(ts // BUCKET_S), placement, variant)
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = Cell()
        return cell

    def add_list(self, s: ServedList) -> None:
        cell = self._cell(s.timestamp, s.placement, s.variant)
        n = len(s.item_ids)
        cell.lists += 1
        cell.impressions += n
        cell.novelty_sum += s.novelty * n
        cell.pos_impressions[: min(n, MAX_POSITION)] += 1
        cell.items.update(s.item_ids)
        for item in s.item_ids:
            self.shown[item] += 1
        t = self.totals[(s.placement, s.variant)]
        t[0] += 1
        t[1] += n

    def add_attribution(self, a: Attribution) -> None:
        cell = self._cell(a.served_at, a.placement, a.variant)
        t = self.totals[(a.placement, a.variant)]
        if kind_of(a.type) == "click":
            cell.clicks += 1
            if a.position <= MAX_POSITION:
                cell.pos_clicks[a.position - 1] += 1
            if len(cell.ttc) < MAX_TTC_SAMPLES:
                cell.ttc.append(max(0.0, a.timestamp - a.served_at))
            t[2] += 1
            self.clicks_by_position[(a.placement, min(a.position, 11))] += 1
        else:
            cell.conversions += 1
            t[3] += 1

    def prune(self, now: float) -> None:
        """Drop buckets older than the retention."""
        oldest = int((now - self.retention_s) // BUCKET_S)
        for key in [k for k in self.cells if k[0] < oldest]:
            del self.cells[key]

    def summary(
        self, window_s: float, now: float, n_items: int, points: int = 24
    ) -> dict[str, Any]:
        """Metrics of the last ``window_s`` seconds per placement and variant, with a
        CTR series of ``points`` steps (Wilson bands) for plots."""
        self.prune(now)
        first = int((now - window_s) // BUCKET_S)
        # the series spans the data in the window, not the whole window
        start = min((k[0] for k in self.cells if k[0] >= first), default=first)
        span = max(BUCKET_S, now - start * BUCKET_S)
        step = max(BUCKET_S, math.ceil(span / points / BUCKET_S) * BUCKET_S)
        groups: dict[tuple[str, str], Cell] = {}
        series: dict[tuple[str, str], dict[int, Cell]] = defaultdict(dict)
        for (bucket, placement, variant), cell in list(self.cells.items()):
            if bucket < first:
                continue
            key = (placement, variant)
            groups.setdefault(key, Cell()).merge(cell)
            t = int((bucket * BUCKET_S) // step)
            series[key].setdefault(t, Cell()).merge(cell)
        out = []
        for (placement, variant), c in sorted(groups.items()):
            shown = np.maximum(c.pos_impressions, 1)
            nonzero = np.flatnonzero(c.pos_impressions)
            last = int(nonzero.max()) + 1 if len(nonzero) else 0
            out.append({
                "placement": placement,
                "variant": variant,
                "lists": c.lists,
                "impressions": c.impressions,
                "clicks": c.clicks,
                "conversions": c.conversions,
                "ctr": c.clicks / c.impressions if c.impressions else 0.0,
                "conversion_rate": c.conversions / c.impressions if c.impressions else 0.0,
                "ctr_by_position": [float(x) for x in (c.pos_clicks / shown)[:last]],
                "impressions_by_position": [int(x) for x in c.pos_impressions[:last]],
                "coverage": len(c.items) / n_items if n_items else 0.0,
                "items_served": len(c.items),
                "novelty": c.novelty_sum / c.impressions if c.impressions else 0.0,
                "median_time_to_click_s": float(np.median(c.ttc)) if c.ttc else None,
                "series": [
                    {"t": t * step, "impressions": s.impressions, "clicks": s.clicks,
                     "ctr": s.clicks / s.impressions if s.impressions else 0.0,
                     "low": wilson(s.clicks, s.impressions)[0],
                     "high": wilson(s.clicks, s.impressions)[1]}
                    for t, s in sorted(series[(placement, variant)].items())
                ],
            })  # fmt: skip
        return {"window_s": window_s, "until": now, "step_s": step, "groups": out}
