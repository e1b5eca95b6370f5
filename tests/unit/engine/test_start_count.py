"""A server's start counts the log into the live item signals in chunks
(``LiveItems.count_log``, trending in one batch a chunk): it must give what counting each
event in turn gave (``LiveItems.count``), on each backend, trending up to rounding.

Known answer: a log of 10 items, 6 users, a spammer, an unknown item and a search, stamped
out of log order, with impressions and the clicks taken from them, and one user deleted
before the start; its trending is the decayed sum worked out by hand.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pulserec.engine import Engine, EngineConfig
from pulserec.storage import Storage, open_storage
from pulserec.storage import sqlite as sqlite_module
from pulserec.types import Event, Item

HOUR = 3600.0
T0 = 1_700_000_000.0


def log() -> list[Event]:
    events = []
    for j in range(120):
        user = f"u{j % 6}"
        # log order is not time order: every third event is stamped two hours earlier
        t = T0 + j * 600.0 - (7200.0 if j % 3 == 0 else 0.0)
        item = f"i{(j * 7) % 10}"
        if j % 10 == 4:  # a list of three shown, its second item clicked
            for k in range(3):
                events.append(Event(user, f"i{(j + k) % 10}", "impression", t))
            events.append(Event(user, f"i{(j + 1) % 10}", "click", t))
            continue
        kind = ["click", "view", "rate", "like", "dislike"][j % 5]
        events.append(Event(user, item, kind, t, 4.0 if kind == "rate" else None))
    events.append(Event("u1", None, "search", T0, text="tea"))
    events.append(Event("u2", "ghost", "click", T0 + 100.0))  # not in the catalog
    events.append(Event("u4", "i3", "click", T0 - 30 * 86400.0))  # a month late
    return events


def filled(url: str) -> Storage:
    storage = open_storage(url)
    storage.upsert_items([Item(f"i{j}", f"item {j}") for j in range(10)])
    events = log()
    spam = [j % 11 == 3 for j in range(len(events))]
    for lo in range(0, len(events), 50):
        storage.append(events[lo : lo + 50], spam[lo : lo + 50])
    storage.delete_user("u3")  # deleted users leave the log: their events count nowhere
    return storage


@pytest.fixture(params=["memory", "sqlite", "sqlite-pages", "redis"])
def url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = request.param
    if name == "redis":
        base = request.getfixturevalue("redis_url")
        return f"{base}?prefix={request.getfixturevalue('redis_prefix')}"
    if name == "sqlite-pages":
        monkeypatch.setattr(sqlite_module, "_PAGE", 7)  # the whole log read in many pages
    return {"memory": "memory://"}.get(name, f"sqlite:///{tmp_path}/p.db")


@pytest.fixture
def storage(url: str) -> Iterator[Storage]:
    s = filled(url)
    yield s
    s.close()


def count_each(engine: Engine) -> None:
    """The start's count as it was: every event in turn through ``LiveItems.count``."""
    stored_events = iter(engine.storage.events())
    while chunk := list(islice(stored_events, 5)):
        engine.items.note_shown(s.event for s in chunk)
        for stored in chunk:
            engine.items.count(stored.event, spam=stored.spam)
            engine._log_seq = stored.seq
    engine.last_seq = max(engine.last_seq, engine._log_seq)


def signals(engine: Engine) -> dict[str, Any]:
    live, n = engine.items.live, len(engine.catalog)
    sessions = live.sessions
    return {
        "trending": live.trending.scores(n).copy(),
        "trending_fast": live.trending_fast.scores(n).copy(),
        "ref_ts": (live.trending.ref_ts, live.trending_fast.ref_ts, live.trending.adds),
        "interactions": engine.items.interactions[:n].tolist(),
        "ctr": (live.ctr.rates(np.arange(n)).tolist(), live.ctr.impressions),
        "sessions": {k: sessions.knn.session_items(k) for k in sessions.knn.sessions()},
        "latest": {k: sessions.latest.session_items(k) for k in sessions.latest.sessions()},
        "current": dict(sessions.current),
        "shown": list(engine.items.shown_keys),
        "seq": (engine._log_seq, engine.last_seq),
    }


def test_the_start_counts_what_counting_each_event_counted(storage: Storage) -> None:
    old = Engine(storage)
    old._index_items(list(storage.items()))
    count_each(old)
    new = Engine(storage)
    new.load_from_storage()
    before, after = signals(old), signals(new)
    for key in ("trending", "trending_fast"):
        np.testing.assert_allclose(after.pop(key), before.pop(key), rtol=1e-12, atol=0.0)
    assert after == before
    # the log did hold what each signal counts
    assert before["ctr"][1] > 0 and before["sessions"] and before["latest"]
    assert not any(k[0] == "u3" for k in before["sessions"]) and "u3" not in before["latest"]


def test_trending_at_start_is_the_decayed_sum_of_the_items_events(storage: Storage) -> None:
    engine = Engine(storage, config=EngineConfig(trending_half_life_s=6 * HOUR))
    engine.load_from_storage()
    positive = {"click", "view", "rate", "like"}
    kept = [s.event for s in storage.events() if s.event.type in positive]
    kept = [e for e in kept if e.item_id != "ghost"]
    newest = max(e.timestamp for e in kept)
    want = np.zeros(len(engine.catalog))
    for e in kept:
        want[engine.catalog.idx(e.item_id)] += math.exp(
            -math.log(2.0) * (newest - e.timestamp) / (6 * HOUR)
        )
    assert engine.trending.ref_ts == newest
    np.testing.assert_allclose(engine.trending.scores(len(want)), want, rtol=1e-12)
    counts = np.bincount([engine.catalog.idx(e.item_id) for e in kept], minlength=len(want))
    assert engine.items.interactions[: len(want)].tolist() == counts.tolist()
