"""A small synthetic shop with two topics, for the engine's tests."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from pulserec.catalog.idmap import IdMap
from pulserec.engine import EngineConfig, ModelSet
from pulserec.engine.arrays import unit_rows
from pulserec.engine.features import BLEND_NAMES, NAMES
from pulserec.engine.modelset import vector_index
from pulserec.types import Event, Item

N_PER_TOPIC = 30

VALUE_WEIGHTS = np.r_[np.ones(len(NAMES)), np.zeros(len(BLEND_NAMES) - len(NAMES))]
"""Blend weights of 1 on each feature's value, none on its other terms."""

# A small transformer keeps the engine's refits quick on this tiny shop. Tests here
# exercise the transformer in the engine, so a refit keeps it whatever its held-out
# NDCG says (the gate has tests of its own).
CFG = EngineConfig(
    n_factors=8,
    als_epochs=5,
    sequential_gate=False,
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


def tiny_models(n_items: int = 4) -> ModelSet:
    """Four items on two axes; user "a" likes the first axis; 0 and 1 co-visited."""
    item_f = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)[:n_items]
    unit = unit_rows(item_f)
    cov = sp.csr_matrix(
        (np.array([2.0, 2.0], np.float32), (np.array([0, 1]), np.array([1, 0]))),
        shape=(n_items, n_items),
    )
    return ModelSet(
        "tiny", IdMap(["a"]), n_items, np.array([[2.0, 0.0]], np.float32), item_f, unit, cov,
        np.ones(n_items, np.float32), VALUE_WEIGHTS,
        vector_index(unit, 100), 0.0, item_ids=[f"i{j}" for j in range(n_items)],
        features=BLEND_NAMES,
    )  # fmt: skip
