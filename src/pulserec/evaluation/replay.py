"""Streaming replay: the measured value of real-time interest capture.

Events are replayed in time order after a train cut-off. Before each
positive event of a test user the engine is asked for the top-K (items the
user has already seen excluded); the event's item is a hit when it is in the
list. Then the event is ingested. With real-time updates on, every event
moves the user's state; off, interests stay frozen at the cut-off (only the
seen-set bookkeeping moves), so the difference between the two runs is what
real-time capture is worth.

Baselines (:mod:`pulserec.evaluation.baselines`) are replayed on exactly the
same scored events: popularity frozen at the cut-off, live trending and
session-kNN updated on every event. :func:`replay_methods` runs them all and
returns a :class:`~pulserec.evaluation.replay_report.ReplayReport` (metrics,
breakdowns by history length and item age, a prequential curve and the time
an event takes to reach the user's next list).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pulserec.catalog.catalog import Catalog
from pulserec.config import DEFAULT_SEED
from pulserec.evaluation.baselines import Baselines, BaselineSettings, pop_rank
from pulserec.evaluation.impressions import impression_metrics, replay_impressions  # noqa: F401
from pulserec.evaluation.replay_report import MethodRun, ReplayReport
from pulserec.events.base import Dataset
from pulserec.types import NEGATIVE_TYPES, Event, Item


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


@dataclass
class ReplayPlan:
    """One replay's events, and which of them every method is scored on.

    The catalog is the dataset's items, then a bare item for each id only the
    events name (so every event's item can be recommended and scored). A test
    event is scored when it is a positive event of a replay user on an item
    that user has not consumed before (re-consumption is not a prediction
    target). Per scored event the plan holds its target item, the user's
    positive events before it (training events included), whether the item
    first appeared at or after the cut, and its time.
    """

    dataset: str
    cut: float
    items: list[Item]
    train: list[Event]
    test: list[Event]
    users: set[str]
    test_items: np.ndarray  # item index per test event, -1 without one
    test_positive: np.ndarray  # bool per test event
    scored: np.ndarray  # bool per test event
    targets: np.ndarray  # per scored event
    history: np.ndarray  # per scored event
    new_item: np.ndarray  # per scored event
    times: np.ndarray  # per scored event
    pop_counts: np.ndarray  # positive training events per item
    train_seen: dict[str, set[int]]  # positive training items of each replay user

    @property
    def n_scored(self) -> int:
        return int(self.scored.sum())


def plan_replay(
    dataset: Dataset,
    *,
    train_fraction: float = 0.8,
    max_users: int | None = None,
    seed: int = DEFAULT_SEED,
) -> ReplayPlan:
    """Cut a dataset's timeline and fix the scored events of a replay."""
    events = dataset.events
    cut = time_cut(events, train_fraction)
    users = replay_users(events, cut, max_users, seed)
    catalog = Catalog.from_frame(dataset.items)
    has_item = events["item_id"].notna().to_numpy()
    catalog.ensure(events.loc[has_item, "item_id"].astype(str).unique().tolist())
    item_idx = np.full(len(events), -1, dtype=np.int64)
    item_idx[has_item] = catalog.id_map.lookup(events.loc[has_item, "item_id"].astype(str))
    positive = has_item & ~events["type"].isin(NEGATIVE_TYPES).to_numpy()
    ts = events["timestamp"].to_numpy(dtype=np.float64)
    user = events["user_id"].astype(str).to_numpy()
    first_seen = np.full(len(catalog), np.inf)
    np.minimum.at(first_seen, item_idx[has_item], ts[has_item])

    is_train = ts < cut
    pop_counts = np.bincount(item_idx[positive & is_train], minlength=len(catalog))
    train_seen: dict[str, set[int]] = {}
    n_before: dict[str, int] = {}
    in_train = positive & is_train
    for u, i in zip(user[in_train].tolist(), item_idx[in_train].tolist(), strict=True):
        n_before[u] = n_before.get(u, 0) + 1
        if u in users:
            train_seen.setdefault(u, set()).add(i)

    test_rows = np.flatnonzero(~is_train)
    scored = np.zeros(len(test_rows), dtype=bool)
    history: list[int] = []
    seen = {u: set(s) for u, s in train_seen.items()}
    for j, row in enumerate(test_rows.tolist()):
        if not positive[row]:
            continue
        u, i = user[row], int(item_idx[row])
        if u in users:
            user_seen = seen.setdefault(u, set())
            if i not in user_seen:
                scored[j] = True
                history.append(n_before.get(u, 0))
            user_seen.add(i)
        n_before[u] = n_before.get(u, 0) + 1
    targets = item_idx[test_rows[scored]]
    return ReplayPlan(
        dataset=dataset.name,
        cut=cut,
        items=list(catalog),
        train=list(to_events(events[is_train])),
        test=list(to_events(events[~is_train])),
        users=users,
        test_items=item_idx[test_rows],
        test_positive=positive[test_rows],
        scored=scored,
        targets=targets,
        history=np.asarray(history, dtype=np.int64),
        new_item=first_seen[targets] >= cut,
        times=ts[test_rows[scored]],
        pop_counts=pop_counts.astype(np.float64),
        train_seen=train_seen,
    )


def replay_engine(
    plan: ReplayPlan,
    make_engine: Callable[[], Any],
    *,
    realtime: bool = True,
    k: int = 10,
    reflect_sample: int = 0,
    seed: int = DEFAULT_SEED,
    on_step: Callable[[int, int], None] | None = None,
) -> MethodRun:
    """Replay a plan through a fresh engine: train at the cut, then recommend and ingest.

    For ``reflect_sample`` scored events chosen at random (seeded), the
    ingest is timed together with the user's next recommendation, and the
    list before and after is compared (see
    :meth:`~pulserec.evaluation.replay_report.MethodRun.reflect_stats`).
    """
    engine = make_engine()
    engine.upsert_items(plan.items)
    engine.bootstrap(plan.train)
    t0 = time.perf_counter()
    fitted = engine.train()
    training = dict(fitted.metrics) if fitted is not None else None  # a stand-in may return none
    if not realtime:
        engine.freeze()
    n = plan.n_scored
    ranks = np.zeros(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    timed = set(rng.choice(n, min(reflect_sample, n), replace=False).tolist())
    reflect_ms: list[float] = []
    reflect_new: list[int] = []
    j = 0
    for step, event in enumerate(plan.test):
        timed_now = False
        if plan.scored[step]:
            ids = [s.item_id for s in engine.recommend(event.user_id, k).items]
            ranks[j] = ids.index(event.item_id) + 1 if event.item_id in ids else 0
            timed_now = j in timed
            j += 1
        if timed_now:
            start = time.perf_counter()
            engine.ingest(event)
            after = [s.item_id for s in engine.recommend(event.user_id, k).items]
            reflect_ms.append((time.perf_counter() - start) * 1e3)
            # the consumed item leaves the list by itself: only other arrivals count
            freed = 1 if event.item_id in ids else 0
            reflect_new.append(max(len(set(after) - set(ids)) - freed, 0))
        else:
            engine.ingest(event)
        if on_step is not None:
            on_step(step + 1, len(plan.test))
    name = f"realtime-{'on' if realtime else 'off'}"
    run = MethodRun(name, ranks, time.perf_counter() - t0, training=training)
    run.reflect_ms = np.asarray(reflect_ms)
    run.reflect_new = np.asarray(reflect_new, dtype=np.int64)
    return run


def replay_baselines(
    plan: ReplayPlan, settings: BaselineSettings | None = None, *, k: int = 10
) -> list[MethodRun]:
    """Popularity, live trending and session-kNN replayed over a plan's events."""
    settings = settings or BaselineSettings()
    t0 = time.perf_counter()
    base = Baselines(settings, len(plan.items), plan.pop_counts)
    item_ids = {item.item_id: i for i, item in enumerate(plan.items)}
    for event in plan.train:
        if event.item_id is not None and event.type not in NEGATIVE_TYPES:
            base.learn(event.user_id, item_ids[event.item_id], event.timestamp)
    seen = {u: set(s) for u, s in plan.train_seen.items()}
    ranks = np.zeros((len(base.names()), plan.n_scored), dtype=np.int64)
    j = 0
    for step, event in enumerate(plan.test):
        item = int(plan.test_items[step])
        if plan.scored[step]:
            user_seen = seen.setdefault(event.user_id, set())
            ranks[:, j] = base.rank(event.user_id, event.timestamp, item, user_seen, k)
            j += 1
        if plan.test_positive[step]:
            base.learn(event.user_id, item, event.timestamp)
            if event.user_id in plan.users:
                seen.setdefault(event.user_id, set()).add(item)
    seconds = time.perf_counter() - t0
    runs = [MethodRun(name, r, seconds) for name, r in zip(base.names(), ranks, strict=True)]
    runs[-1].coverage = base.knn_found / max(plan.n_scored, 1)
    return runs


def replay_methods(
    dataset: Dataset,
    make_engine: Callable[[], Any],
    *,
    modes: Sequence[bool] = (True, False),
    train_fraction: float = 0.8,
    k: int = 10,
    max_users: int | None = None,
    seed: int = DEFAULT_SEED,
    baselines: BaselineSettings | None = None,
    reflect_sample: int = 300,
    on_step: Callable[[str, int, int], None] | None = None,
) -> ReplayReport:
    """The engine (real-time on and/or off) and every baseline on the same scored events.

    Parameters
    ----------
    dataset : Dataset
        Events (any types; negative ones are ingested, never scored) and items.
    make_engine : callable
        A fresh, untrained engine per mode.
    modes : sequence of bool
        Real-time on (True) and/or off (False).
    train_fraction, k, max_users, seed
        As :func:`replay`.
    baselines : BaselineSettings, optional
        Half-lives and session-kNN's sessions.
    reflect_sample : int
        Scored events whose ingest-to-next-list time is measured per engine run.
    on_step : callable, optional
        ``on_step(run name, events done, events in all)``.
    """
    plan = plan_replay(dataset, train_fraction=train_fraction, max_users=max_users, seed=seed)
    runs: list[MethodRun] = []
    for mode in modes:
        name = f"realtime-{'on' if mode else 'off'}"
        step = None if on_step is None else (lambda a, b, name=name: on_step(name, a, b))
        run = replay_engine(
            plan, make_engine, realtime=mode, k=k, reflect_sample=reflect_sample, seed=seed,
            on_step=step,
        )  # fmt: skip
        runs.append(run)
    settings = baselines or BaselineSettings()
    runs += replay_baselines(plan, settings, k=k)
    return ReplayReport(
        dataset=plan.dataset, k=k, train_fraction=train_fraction, max_users=max_users,
        seed=seed, cut=plan.cut, runs=runs, history=plan.history, new_item=plan.new_item,
        times=plan.times, baselines=settings, n_users=len(plan.users),
    )  # fmt: skip


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
    """Replay a dataset through a fresh engine; returns (engine result, popularity result).

    The engine and frozen popularity only; :func:`replay_methods` adds the
    other baselines and the breakdowns.
    """
    plan = plan_replay(dataset, train_fraction=train_fraction, max_users=max_users, seed=seed)
    run = replay_engine(plan, make_engine, realtime=realtime, k=k, on_step=on_step)
    order = np.argsort(-plan.pop_counts, kind="stable")
    seen = {u: set(s) for u, s in plan.train_seen.items()}
    pop: list[int] = []
    for step, event in enumerate(plan.test):
        item = int(plan.test_items[step])
        user_seen = seen.setdefault(event.user_id, set())
        if plan.scored[step]:
            pop.append(pop_rank(order, user_seen, item, k))
        if plan.test_positive[step] and event.user_id in plan.users:
            user_seen.add(item)
    ours = ReplayResult("engine", k, run.ranks.tolist(), run.seconds)
    return ours, ReplayResult("popularity", k, pop)

