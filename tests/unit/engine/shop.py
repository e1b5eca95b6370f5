"""A small synthetic shop with two topics, for the engine's tests."""

from __future__ import annotations

import numpy as np

from pulserec.engine import EngineConfig
from pulserec.types import Event, Item

N_PER_TOPIC = 30

# A small transformer keeps the engine's refits quick on this tiny shop.
CFG = EngineConfig(
    n_factors=8,
    als_epochs=5,
    sequential_params={
        "n_threads": 1,
        "n_factors": 32,
        "learning_rate": 1e-2,
        "n_epochs": 20,
        "patience": 3,
    },
)


def catalog() -> list[Item]:
    items = []
    for topic, words in (("jazz", "saxophone trumpet swing"), ("hiking", "trail boots mountain")):
        for j in range(N_PER_TOPIC):
            items.append(Item(f"{topic}-{j}", f"{topic.title()} {j}", f"{words} {j}", (topic,)))
    return items


def history(n_users: int = 60, per_user: int = 12, seed: int = 0) -> list[Event]:
    """Half the users only touch jazz, half only hiking, in runs of neighbouring items."""
    rng = np.random.default_rng(seed)
    events, t = [], 1_000_000.0
    for u in range(n_users):
        topic = "jazz" if u % 2 == 0 else "hiking"
        start = int(rng.integers(0, N_PER_TOPIC))
        for j in range(per_user):
            t += 60
            events.append(Event(f"u{u}", f"{topic}-{(start + j) % N_PER_TOPIC}", "click", t))
    return events
