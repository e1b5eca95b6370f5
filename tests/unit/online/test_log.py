"""The served-list log: batched writes, a bound, and nothing lost when a write fails."""

from __future__ import annotations

import time
from collections.abc import Iterable

import pytest

from pulserec.online.base import ServedList
from pulserec.online.log import ListLog
from pulserec.online.stores import MemoryOnlineStore


def served(i: int) -> ServedList:
    return ServedList(f"r{i}", "u", "home", "", float(i), ("a", "b"))


class CountingStore(MemoryOnlineStore):
    def __init__(self, fail: int = 0, sleep_s: float = 0.0) -> None:
        super().__init__()
        self.calls: list[int] = []
        self.fail = fail
        self.sleep_s = sleep_s

    def append_lists(self, lists: Iterable[ServedList]) -> None:
        rows = list(lists)
        time.sleep(self.sleep_s)
        if self.fail:
            self.fail -= 1
            raise ConnectionError("store down")
        self.calls.append(len(rows))
        super().append_lists(rows)


def test_lists_are_written_in_batches() -> None:
    store = CountingStore()
    log = ListLog(store, batch=4)
    for i in range(10):
        assert log.add(served(i))
    assert store.calls == [] and log.pending() == 10  # serving writes nothing
    assert log.flush() == 10
    assert store.calls == [4, 4, 2] and len(list(store.lists())) == 10


def test_past_the_bound_lists_are_dropped_and_counted() -> None:
    log = ListLog(CountingStore(), max_buffer=3)
    assert [log.add(served(i)) for i in range(5)] == [True, True, True, False, False]
    assert log.dropped == 2 and log.pending() == 3


def test_a_failed_write_keeps_the_lists_in_order_for_the_next() -> None:
    store = CountingStore(fail=1)
    log = ListLog(store, batch=2)
    for i in range(3):
        log.add(served(i))
    with pytest.raises(ConnectionError):
        log.flush()
    assert log.pending() == 3
    log.flush()
    assert [s.recommendation_id for s in store.lists()] == ["r0", "r1", "r2"]


def test_close_writes_what_the_thread_left() -> None:
    store = CountingStore()
    log = ListLog(store, flush_s=3600).start()
    log.add(served(1))
    log.close()
    assert store.get_list("r1") == served(1)


def test_each_write_is_timed_into_its_bucket() -> None:
    # WRITE_BUCKETS 1, 2, 5, 10, 20 ms...: three writes of >= 6 ms land past 5 ms; a failed
    # write is not counted
    store = CountingStore(fail=1, sleep_s=0.006)
    log = ListLog(store, batch=2)
    for i in range(6):
        log.add(served(i))
    with pytest.raises(ConnectionError):
        log.flush()
    assert sum(log.write_counts) == 0 and log.write_seconds == 0.0
    log.flush()
    assert sum(log.write_counts) == 3 and sum(log.write_counts[:3]) == 0
    assert 3 * 0.006 <= log.write_seconds < 3 * 0.2
    assert 0.006 <= log.write_max_s <= log.write_seconds
