"""The garbage collector in a long-running API process: pauses timed, the heap frozen.

CPython's cyclic collector stops every thread while it runs. Its young passes take well
under a millisecond here, but a full (oldest-generation) pass walks every container the
process holds: the catalog, the models' dictionaries, every user state and served list,
over 200k objects for ml-latest-small, 100-160 ms a pass on this project's two-core test
machine. One such pause holds up every request that arrives meanwhile, so the tail latency
of a busy server moves with when passes happen to fall.

:class:`HeapKeeper` keeps those passes short. Every ``freeze_s`` seconds it moves the
objects that have survived so far into the collector's permanent generation
(:func:`gc.freeze`, which costs no walk): a later full pass walks only what was made since.
Frozen objects are still freed by reference counting when nothing refers to them (a state
evicted from the cache, an old model set's arrays); only garbage *cycles* among them wait.
To bound that, the keeper *settles* the heap, unfreezing and collecting everything once
(one full pass), when a new model set is served and no refit is running (so the old set's
cycles go), and at the latest every ``settle_s`` seconds.

:class:`GcPauses` times every pass of the collector, by generation, for ``/metrics``
(``pulserec_gc_pause_seconds``) and the admin status.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger("pulserec.service")

PAUSE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
"""Upper bounds, seconds, of the pause histogram."""


class GcPauses:
    """Times each collector pass through :data:`gc.callbacks`, by generation (0, 1, 2).

    The callbacks are process-wide: :meth:`install` adds this recorder once and
    :meth:`uninstall` removes it. Passes are counted in a fixed-bucket histogram, so
    memory stays constant however long the process runs.

    No lock: the hook may run in any thread, in the middle of any allocation, including
    a reader's own copy of these figures (a lock held there would deadlock the hook).
    Collections never overlap, so the hook is the only writer; readers copy each list at
    once and may see a pass in one figure and not yet in another.
    """

    def __init__(self) -> None:
        self.counts = [[0] * (len(PAUSE_BUCKETS) + 1) for _ in range(3)]
        self.seconds = [0.0, 0.0, 0.0]
        self.longest = [0.0, 0.0, 0.0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        """The :data:`gc.callbacks` hook."""
        if phase == "start":
            self._started = time.perf_counter()
            return
        elapsed = time.perf_counter() - self._started
        generation = min(int(info.get("generation", 2)), 2)
        self.counts[generation][bisect_left(PAUSE_BUCKETS, elapsed)] += 1
        self.seconds[generation] += elapsed
        self.longest[generation] = max(self.longest[generation], elapsed)

    def install(self) -> GcPauses:
        """Start timing passes; returns self."""
        if self not in gc.callbacks:
            gc.callbacks.append(self)
        return self

    def uninstall(self) -> None:
        """Stop timing passes."""
        while self in gc.callbacks:
            gc.callbacks.remove(self)

    def summary(self) -> dict[str, dict[str, float]]:
        """Passes, total and longest pause (milliseconds) per generation."""
        return {
            f"gen{g}": {
                "passes": float(sum(self.counts[g])),
                "total_ms": round(self.seconds[g] * 1000.0, 3),
                "longest_ms": round(self.longest[g] * 1000.0, 3),
            }
            for g in range(3)
        }


GC_PAUSES = GcPauses()
"""The process's recorder: servers install it at start (the hook is process-wide)."""


class GcCollector(Collector):
    """Exports a :class:`GcPauses` and the frozen-object count at scrape time:
    ``pulserec_gc_pause_seconds`` (histogram by ``generation``) and
    ``pulserec_gc_frozen_objects`` (gauge)."""

    def __init__(self) -> None:
        self.source: Callable[[], GcPauses | None] = lambda: None

    def collect(self) -> Iterator[Metric]:
        """The two metrics of the current source; nothing while it is None."""
        pauses = self.source()
        if pauses is None:
            return
        family = HistogramMetricFamily(
            "pulserec_gc_pause_seconds",
            "Pauses of the cyclic garbage collector (every thread stops), by generation.",
            labels=("generation",),
        )
        rows = [(list(pauses.counts[g]), pauses.seconds[g]) for g in range(3)]
        for g, (counts, total) in enumerate(rows):
            cumulative, buckets = 0, []
            for bound, n in zip((*map(str, PAUSE_BUCKETS), "+Inf"), counts, strict=True):
                cumulative += n
                buckets.append((bound, float(cumulative)))
            family.add_metric((str(g),), buckets, total)
        yield family
        yield GaugeMetricFamily(
            "pulserec_gc_frozen_objects",
            "Objects in the collector's permanent generation (never walked by its passes).",
            value=gc.get_freeze_count(),
        )

    def describe(self) -> Iterator[Metric]:
        """Nothing: the registry then never collects at registration time."""
        return iter(())


class HeapKeeper:
    """Freezes the surviving heap every ``freeze_s`` s and settles it on new models.

    Parameters
    ----------
    models : callable
        Returns the object now served (compared by identity: a new one means a refit or a
        swap landed).
    busy : callable
        True while a refit runs: settling then would walk the refit's half-built objects
        and leave its garbage for later, so it waits.
    freeze_s : float
        Seconds between freezes; 0 turns the keeper off.
    settle_s : float
        Longest time between two settles (unfreeze and one full collection).
    """

    def __init__(
        self, models: Callable[[], object], busy: Callable[[], bool], *,
        freeze_s: float = 30.0, settle_s: float = 3600.0,
    ) -> None:  # fmt: skip
        self.models = models
        self.busy = busy
        self.freeze_s = freeze_s
        self.settle_s = settle_s
        self.freezes = 0
        self.settles = 0
        self.last_settle_ms = 0.0
        self._served: object = None
        self._settled_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self, now: float | None = None) -> str:
        """One round: ``"settle"``, ``"freeze"`` or ``"wait"`` (a refit is running)."""
        now = time.monotonic() if now is None else now
        if self.busy():
            return "wait"
        served = self.models()
        if served is not self._served or now - self._settled_at >= self.settle_s:
            t0 = time.perf_counter()
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self.last_settle_ms = (time.perf_counter() - t0) * 1000.0
            self._served, self._settled_at = served, now
            self.settles += 1
            log.info("heap settled in %.0f ms: %d objects frozen", self.last_settle_ms,
                     gc.get_freeze_count())  # fmt: skip
            return "settle"
        gc.freeze()
        self.freezes += 1
        return "freeze"

    def start(self) -> HeapKeeper:
        """Run in a daemon thread, the first round ``freeze_s`` after start (by then a
        server has loaded its models and restored its first states); off when
        ``freeze_s`` is 0."""
        if self.freeze_s > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="pulserec-heap", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.freeze_s):
            try:
                self.tick()
            except Exception:  # the keeper must never take the server down
                log.exception("heap keeper round failed")

    def stop(self) -> None:
        """Stop the thread and hand every frozen object back to the collector."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        gc.unfreeze()
