"""The server's garbage-collector keeper: pauses timed, the heap frozen and settled."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from pulserec.service.heap import GcCollector, GcPauses, HeapKeeper


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # what a test froze goes back to the collector


class Node:
    """A cycle: only the collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_pauses_are_counted_by_generation() -> None:
    pauses = GcPauses().install()
    try:
        gc.collect(0)
        gc.collect(2)
        gc.collect(2)
    finally:
        pauses.uninstall()
    gc.collect(2)  # not counted: uninstalled
    summary = pauses.summary()
    assert summary["gen2"]["passes"] == 2.0
    assert summary["gen0"]["passes"] >= 1.0
    assert summary["gen2"]["total_ms"] >= summary["gen2"]["longest_ms"] > 0.0
    assert pauses not in gc.callbacks


def test_collector_exports_a_histogram_per_generation() -> None:
    pauses = GcPauses().install()
    try:
        gc.collect(2)
    finally:
        pauses.uninstall()
    registry = CollectorRegistry()
    collector = GcCollector()
    registry.register(collector)
    assert b"pulserec_gc_pause_seconds" not in generate_latest(registry)  # no source yet
    collector.source = lambda: pauses
    text = generate_latest(registry).decode()
    assert 'pulserec_gc_pause_seconds_count{generation="2"} 1.0' in text
    assert 'pulserec_gc_pause_seconds_bucket{generation="2",le="+Inf"} 1.0' in text
    assert "pulserec_gc_frozen_objects" in text


def test_keeper_freezes_and_settles_on_new_models() -> None:
    served: list[object] = [object()]
    busy = [False]
    keeper = HeapKeeper(lambda: served[0], lambda: busy[0], freeze_s=30.0, settle_s=100.0)
    assert keeper.tick(now=0.0) == "settle"  # the first model set seen
    assert gc.get_freeze_count() > 0

    cycle = Node()
    dead = weakref.ref(cycle)
    del cycle
    assert keeper.tick(now=10.0) == "freeze"
    gc.collect()
    assert dead() is not None  # frozen: full passes no longer walk it

    served[0] = object()  # a refit landed...
    busy[0] = True
    assert keeper.tick(now=20.0) == "wait"  # ...but another one runs: wait for it
    assert dead() is not None
    busy[0] = False
    assert keeper.tick(now=30.0) == "settle"
    assert dead() is None  # the settle's full pass freed the frozen cycle
    assert keeper.settles == 2 and keeper.freezes == 1


def test_keeper_settles_at_the_latest_every_settle_s() -> None:
    model = object()
    keeper = HeapKeeper(lambda: model, lambda: False, freeze_s=30.0, settle_s=100.0)
    assert keeper.tick(now=0.0) == "settle"
    assert keeper.tick(now=99.0) == "freeze"
    assert keeper.tick(now=100.0) == "settle"


def test_keeper_off_at_zero_and_stop_unfreezes() -> None:
    off = HeapKeeper(lambda: None, lambda: False, freeze_s=0.0).start()
    assert off._thread is None
    on = HeapKeeper(lambda: None, lambda: False, freeze_s=30.0)
    on.tick(now=0.0)
    assert gc.get_freeze_count() > 0
    on.start().stop()
    assert gc.get_freeze_count() == 0
