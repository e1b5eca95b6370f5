"""Simulated users for the online loop: replay a dataset through the real engine.

The timeline is cut at ``train_fraction``; the engine is trained on the past, an
experiment is started, and the future is replayed in time order. Before each real event
of a simulated user the engine serves that user a list (through
:meth:`~pulserec.engine.Engine.recommend`, so experiment assignment, overrides, the
served-list log and attribution are the ones the service runs). The user **clicks** the
best-placed shown item that is among their next ``horizon`` real events (a ``click``
event carrying the list's ``recommendation_id``; that future event is then used up);
the real event itself is then consumed as an **organic** event, unless it was the one
clicked. An organic event is ingested as it is: in a log of clicks or views the
attribution rule may credit it to a list shown shortly before, as it would in the
service; a rating log's events are never credited. Events of users outside the sample
are ingested as they come, so live signals move alike for every variant.

An A/A experiment's variants serve identical lists, so which variant a user is in
changes nothing they see: one replay's per-user counts, split again by the user hash of
each seed (:func:`resplit`), are exactly what a rerun with that seed would produce.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pulserec.evaluation.replay import ReplayPlan
from pulserec.online.experiments import Experiment, Overrides
from pulserec.online.stats import compare, decision_p, ratio_estimate
from pulserec.types import NEGATIVE_TYPES, Event

EXPERIMENTS: dict[str, list[dict[str, Any]]] = {
    "realtime": [
        {"name": "realtime-on", "share": 0.5},
        {"name": "realtime-off", "share": 0.5, "overrides": {"realtime": False}},
    ],
    "aa": [{"name": "a", "share": 0.5}, {"name": "a-again", "share": 0.5}],
    "diversity": [
        {"name": "plain", "share": 0.5},
        {"name": "diverse", "share": 0.5, "overrides": {"diversity": 0.5}},
    ],
    "exploration": [
        {"name": "base", "share": 0.5},
        {"name": "explore", "share": 0.5, "overrides": {"exploration": 0.1}},
    ],
    "transformer": [
        {"name": "transformer-on", "share": 0.5},
        {"name": "transformer-off", "share": 0.5, "overrides": {"sequential": False}},
    ],
}
"""Experiments ``pulserec simulate --experiment NAME`` knows by name."""


@dataclass
class Simulation:
    """What a simulated experiment produced."""

    report: dict[str, Any]
    per_user: dict[str, tuple[float, float]]
    """user -> (impressions, clicks), over every variant."""
    online: dict[str, Any]
    steps: int = 0
    clicks: int = 0
    organic: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def simulate(
    plan: ReplayPlan,
    make_engine: Callable[[], Any],
    variants: Sequence[dict[str, Any]],
    *,
    k: int = 10,
    horizon: int = 10,
    salt: str = "",
    horizon_users: int = 100,
    on_step: Callable[[int, int], None] | None = None,
) -> Simulation:
    """Run one simulated experiment over ``plan`` (see the module docstring)."""
    engine = make_engine()
    engine.upsert_items(plan.items)
    engine.bootstrap(plan.train)
    engine.train()
    loop = engine.online
    if loop is None:
        raise ValueError("simulate: the engine needs an online loop")
    engine.create_experiment("simulated", list(variants), horizon_users=horizon_users,
                             salt=salt, now=plan.cut)  # fmt: skip
    test = plan.test
    upcoming: dict[str, deque[int]] = {}
    for j, e in enumerate(test):
        if e.user_id in plan.users:
            upcoming.setdefault(e.user_id, deque()).append(j)
    used = np.zeros(len(test), dtype=bool)
    t0 = time.perf_counter()
    steps = clicks = organic = 0
    for j, e in enumerate(test):
        if on_step is not None and j % 500 == 0:
            on_step(j, len(test))
        if used[j]:
            continue
        u = e.user_id
        queue = upcoming.get(u)
        if queue is not None:
            while queue and (queue[0] < j or used[queue[0]]):
                queue.popleft()
        clicked = None
        if queue and e.item_id is not None and e.type not in NEGATIVE_TYPES:
            steps += 1
            rec = engine.recommend(u, k, now=e.timestamp, placement="simulated")
            shown = {s.item_id: pos for pos, s in enumerate(rec.items)}
            window = [i for i in list(queue)[: horizon * 2] if not used[i]][:horizon]
            hits = [(shown[test[i].item_id], i) for i in window
                    if test[i].item_id in shown]  # fmt: skip
            if hits:
                _, clicked = min(hits)
                item = test[clicked].item_id
                engine.ingest(Event(u, item, "click", e.timestamp,
                                    recommendation_id=rec.recommendation_id))  # fmt: skip
                used[clicked] = True
                clicks += 1
        if clicked != j:
            engine.ingest(e)
            organic += 1
        used[j] = True
        if steps % 1000 == 0:
            loop.log.flush()
    loop.log.flush()
    end = test[-1].timestamp if test else plan.cut
    per_user: dict[str, tuple[float, float]] = {}
    for (name, _variant), users in loop.tally.items():
        if name == "simulated":
            for user, row in users.items():
                per_user[user] = (float(row[1]), float(row[2]))
    return Simulation(
        report=loop.report("simulated"),
        per_user=per_user,
        online=loop.summary(end - plan.cut + 1.0, len(engine.catalog), now=end + 1.0),
        steps=steps, clicks=clicks, organic=organic, seconds=time.perf_counter() - t0,
    )  # fmt: skip


def resplit(
    per_user: dict[str, tuple[float, float]], variants: Sequence[dict[str, Any]], salt: str
) -> dict[str, Any]:
    """Split users by the hash of ``salt`` into ``variants`` (no overrides: an A/A test)
    and compare the second variant's CTR with the first's."""
    e = Experiment("resplit", [], 0.0, salt=salt)
    for v in variants:
        e.add_variant(v["name"], v["share"], Overrides())
    groups: dict[str, list[tuple[float, float]]] = {v["name"]: [] for v in variants}
    for user, row in per_user.items():
        found = e.variant_of(user)
        if found is not None:
            groups[found.name].append(row)
    arrays = [(np.array([c for _, c in rows]), np.array([n for n, _ in rows]))
              for rows in groups.values()]  # fmt: skip
    estimates = [ratio_estimate(clicks, shown) for clicks, shown in arrays]
    c = compare(estimates[0], estimates[1])
    p, test = decision_p(arrays[0], arrays[1], c.p_value)
    return {"salt": salt, "ctr": [r.ctr for r in estimates], "users": [r.users for r in estimates],
            "diff": c.diff, "ci_low": c.low, "ci_high": c.high, "p_value": p, "test": test,
            "p_value_z": c.p_value}  # fmt: skip
