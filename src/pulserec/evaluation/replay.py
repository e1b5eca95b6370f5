"""Streaming replay: the measured value of real-time interest capture.

Events are replayed in time order after a train cut-off. Before each
positive event of a test user the engine is asked for the top-K (items the
user has already seen excluded); the event's item is a hit when it is in the
list. Then the event is ingested. With real-time updates on, every event
moves the user's state; off, interests stay frozen at the cut-off (only the
seen-set bookkeeping moves), so the difference between the two runs is what
real-time capture is worth. A popularity baseline is replayed alongside.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pulserec.catalog.catalog import Catalog
from pulserec.config import DEFAULT_SEED
from pulserec.evaluation.impressions import impression_metrics, replay_impressions  # noqa: F401
from pulserec.events.base import Dataset
from pulserec.types import NEGATIVE_TYPES, Event


@dataclass
class ReplayResult:
    """Hit statistics of one replay run."""

    name: str
    k: int
    ranks: list[int] = field(default_factory=list)  # 0 = miss, else 1-based rank
    seconds: float = 0.0

    def metrics(self) -> dict[str, float]:
        r = np.asarray(self.ranks, dtype=np.float64)
        if len(r) == 0:
            return {
                f"hit@{self.k}": 0.0,
                f"ndcg@{self.k}": 0.0,
                f"mrr@{self.k}": 0.0,
                "events": 0.0,
            }
        hit = r > 0
        with np.errstate(divide="ignore"):
            ndcg = np.where(hit, 1.0 / np.log2(r + 1.0), 0.0)
            mrr = np.where(hit, 1.0 / np.maximum(r, 1.0), 0.0)
        return {
            f"hit@{self.k}": float(hit.mean()),
            f"ndcg@{self.k}": float(ndcg.mean()),
            f"mrr@{self.k}": float(mrr.mean()),
            "events": float(len(r)),
        }


def time_cut(events: pd.DataFrame, train_fraction: float) -> float:
    """The timestamp splitting events into the first ``train_fraction`` and the rest."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction: expected a value in (0, 1), got {train_fraction}")
    return float(events["timestamp"].quantile(train_fraction))


def to_events(frame: pd.DataFrame) -> Iterator[Event]:
    """Event objects of an event frame, in its row order."""
    cols = [frame[c].tolist() for c in ("user_id", "item_id", "type", "timestamp", "value", "text")]
    for user, item, kind, ts, value, text in zip(*cols, strict=True):
        yield Event(
            str(user),
            item if isinstance(item, str) else None,
            kind,
            float(ts),
            None
            if value is None or (isinstance(value, float) and math.isnan(value))
            else float(value),
            text if isinstance(text, str) else None,
        )


def replay_users(events: pd.DataFrame, cut: float, max_users: int | None, seed: int) -> set[str]:
    """Users with events after the cut, optionally a seeded sample of them."""
    users = sorted(set(events.loc[events["timestamp"] >= cut, "user_id"].astype(str)))
    if max_users is not None and len(users) > max_users:
        rng = np.random.default_rng(seed)
        users = sorted(rng.choice(users, max_users, replace=False).tolist())
    return set(users)


def replay(
    dataset: Dataset,
    make_engine: Callable[[], Any],
    *,
    train_fraction: float = 0.8,
    k: int = 10,
    realtime: bool = True,
    max_users: int | None = None,
    seed: int = DEFAULT_SEED,
    on_step: Callable[[int, int], None] | None = None,
) -> tuple[ReplayResult, ReplayResult]:
    """Replay a dataset through a fresh engine; returns (engine result, popularity result)."""
    events = dataset.events
    cut = time_cut(events, train_fraction)
    train = events[events["timestamp"] < cut]
    test = events[events["timestamp"] >= cut]
    users = replay_users(events, cut, max_users, seed)

    engine = make_engine()
    engine.upsert_items(list(Catalog.from_frame(dataset.items)))
    engine.bootstrap(list(to_events(train)))
    t0 = time.perf_counter()
    engine.train()
    if not realtime:
        engine.freeze()

    item_ids = engine.catalog.item_ids()
    pop_counts = np.bincount(
        engine.catalog.id_map.lookup(
            train.loc[~train["type"].isin(NEGATIVE_TYPES), "item_id"].astype(str)
        ),
        minlength=len(item_ids),
    ).astype(np.float64)
    pop_order = np.argsort(-pop_counts, kind="stable")
    seen: dict[str, set[int]] = {}
    for user, item in zip(train["user_id"].astype(str), train["item_id"], strict=True):
        if user in users and isinstance(item, str) and item in engine.catalog:
            seen.setdefault(user, set()).add(engine.catalog.idx(item))

    ours, pop = ReplayResult("engine", k), ReplayResult("popularity", k)
    rows = list(to_events(test))
    for step, event in enumerate(rows):
        scored = (
            event.user_id in users
            and event.item_id is not None
            and event.type not in NEGATIVE_TYPES
            and event.item_id in engine.catalog
        )
        if scored:
            assert event.item_id is not None
            target = engine.catalog.idx(event.item_id)
            user_seen = seen.setdefault(event.user_id, set())
            if target not in user_seen:  # re-consumption is not a prediction target
                rec = engine.recommend(event.user_id, k)
                ids = [s.item_id for s in rec.items]
                ours.ranks.append(ids.index(event.item_id) + 1 if event.item_id in ids else 0)
                pop.ranks.append(_pop_rank(pop_order, user_seen, target, k))
            user_seen.add(target)
        engine.ingest(event)
        if on_step is not None:
            on_step(step + 1, len(rows))
    ours.seconds = time.perf_counter() - t0
    return ours, pop


def _pop_rank(order: np.ndarray, seen: set[int], target: int, k: int) -> int:
    rank = 0
    for item in order[: k + len(seen)].tolist():
        if item in seen:
            continue
        rank += 1
        if item == target:
            return rank
        if rank == k:
            break
    return 0

