"""The simulator on a small generated log: it runs the real loop and its counts add up."""

from __future__ import annotations

from dataclasses import replace

import pytest
from shop import CFG

from pulserec.config import OnlineSettings
from pulserec.engine import Engine
from pulserec.evaluation.replay import plan_replay
from pulserec.evaluation.synthetic import load_synthetic
from pulserec.online import OnlineLoop
from pulserec.online.simulate import EXPERIMENTS, resplit, simulate
from pulserec.online.stores import MemoryOnlineStore


@pytest.fixture(scope="module")
def plan():  # type: ignore[no-untyped-def]
    ds = load_synthetic(preset="ml-100k-like", n_users=120, n_items=200, seed=3)
    return plan_replay(ds, train_fraction=0.6, max_users=60, seed=0)


def make_engine() -> Engine:
    loop = OnlineLoop(MemoryOnlineStore(), OnlineSettings(retention_s=1e10))
    return Engine(config=replace(CFG, sequential=False), online=loop)


def test_clicks_come_from_the_lists_and_every_real_event_happens_once(plan) -> None:  # type: ignore[no-untyped-def]
    sim = simulate(plan, make_engine, EXPERIMENTS["realtime"], k=10, horizon=10)
    assert sim.clicks > 0 and sim.steps > 0
    # a click uses up one real event, so clicks + organic events = the test events
    assert sim.clicks + sim.organic == len(plan.test)
    variants = {v["name"]: v for v in sim.report["variants"]}
    # the generated log's own clicks and views are organic events the window rule may
    # also credit to a list shown shortly before (a rating log's events it never credits)
    assert sum(v["clicks"] for v in variants.values()) >= sim.clicks
    assert sum(v["impressions"] for v in variants.values()) == 10 * sim.steps
    assert sim.online["groups"][0]["placement"] == "simulated"
    # the real-time variant sees what its users just did, and so is clicked more
    assert variants["realtime-on"]["ctr"] > variants["realtime-off"]["ctr"]


def test_resplit_keeps_every_user_and_click(plan) -> None:  # type: ignore[no-untyped-def]
    per_user = {f"u{i}": (10.0, float(i % 3)) for i in range(200)}
    out = resplit(per_user, EXPERIMENTS["aa"], "seed-1")
    assert sum(out["users"]) == 200
    assert 0.0 <= out["p_value"] <= 1.0
    assert out != resplit(per_user, EXPERIMENTS["aa"], "seed-2")
