"""Seeding an engine with the demo data; the demo's public names in one place.

The catalog is read by :mod:`pulserec.demo.catalog`, the synthetic history is made by
:mod:`pulserec.demo.history`, and :func:`seed_engine` loads both into an engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pulserec.demo.catalog import load_demo_items, topic_of
from pulserec.demo.history import DEFAULT_START_TS, DemoUser, generate_history, make_users

if TYPE_CHECKING:
    from pulserec.engine import Engine

__all__ = [
    "DEFAULT_START_TS",
    "DemoSeed",
    "DemoUser",
    "generate_history",
    "load_demo_items",
    "make_users",
    "seed_engine",
    "topic_of",
]


@dataclass(frozen=True, slots=True)
class DemoSeed:
    """What :func:`seed_engine` did."""

    n_items: int
    n_users: int
    n_events: int
    n_new_events: int
    model_version: str


DEMO_PLACEMENTS: dict[str, dict[str, object]] = {
    "shop": {
        "k": 10,
        "filter": "item.kind == 'product' and item.stock > 0",
        "promotions": [{"filter": "item.sponsored", "share": 0.2}],
    },
    "reading": {"k": 10, "filter": "item.kind != 'product'", "diversity": 0.3},
    "product-page": {
        "k": 6,
        "filter": "item.category in user.recent_categories and item.stock > 0",
        "not_shown": {"minutes": 60},
    },
}
"""Placements the demo deployment starts with (products are priced, branded and stocked;
a third of the brands are sponsored)."""


def seed_engine(
    engine: Engine,
    n_users: int = 200,
    seed: int = 2026,
    start_ts: float = DEFAULT_START_TS,
    *,
    train: bool = True,
) -> DemoSeed:
    """Load the demo catalog, its placements and history into ``engine`` and train it.

    Idempotent: items are upserted, and events whose ids the log already holds are not
    appended again (the engine's counters are not inflated by a second seeding).

    Parameters
    ----------
    engine : Engine
    n_users : int
        How many synthetic users.
    seed : int
        Seed of the history.
    start_ts : float
        Where the history begins (pass ``time.time() - 30 * 86400`` for a history that
        ends now; the events then differ from the default ones, their ids do not).
    train : bool
        Fit the models afterwards (``engine.train()``).

    Returns
    -------
    DemoSeed
    """
    items = load_demo_items()
    engine.upsert_items(items)
    for name, body in DEMO_PLACEMENTS.items():
        engine.put_placement(name, body)
    events = generate_history(items, n_users=n_users, seed=seed, start_ts=start_ts)
    known = {s.event.event_id for s in engine.storage.events()}
    new = [e for e in events if e.event_id not in known]
    if new:
        engine.bootstrap(new)
    version = engine.train().version if train else ""
    return DemoSeed(len(items), n_users, len(events), len(new), version)
