"""Prometheus metrics of one app, in a registry of its own (tests build many apps)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pulserec.engine.listcache import ListCache
from pulserec.online import OnlineLoop
from pulserec.online.log import WRITE_BUCKETS
from pulserec.service.heap import GcCollector, GcPauses
from pulserec.state.pending import PendingItems

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
"""Request latency buckets, seconds: fine below 10 ms where the service should answer."""


class Metrics:
    """The counters and histograms the service exports at ``/metrics``.

    Attributes
    ----------
    registry : CollectorRegistry
    request_seconds : Histogram
        Latency per method and route template (never the raw path: ids stay out of labels).
    errors : Counter
        Answers with status >= 400, by status.
    events_ingested : Counter
        Events newly stored.
    events_duplicate : Counter
        Retries of stored events (same event_id).
    events_rejected : Counter
        Events refused by validation.
    events_spam : Counter
        Stored events flagged as spam.
    pending : PendingCollector
        The engine's users waiting for unknown items (see :meth:`watch_pending`).
    lists : ListCacheCollector
        The engine's kept lists (see :meth:`watch_lists`).
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_seconds = Histogram(
            "pulserec_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ("method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "pulserec_http_errors",
            "HTTP answers with status >= 400, by status.",
            ("status",),
            registry=self.registry,
        )
        self.events_ingested = Counter(
            "pulserec_events_ingested", "Events newly stored.", registry=self.registry
        )
        self.events_duplicate = Counter(
            "pulserec_events_duplicate",
            "Events already stored (retries with the same event_id).",
            registry=self.registry,
        )
        self.events_rejected = Counter(
            "pulserec_events_rejected", "Events refused by validation.", registry=self.registry
        )
        self.events_spam = Counter(
            "pulserec_events_spam", "Stored events flagged as spam.", registry=self.registry
        )
        self.pending = PendingCollector()
        self.registry.register(self.pending)
        self.online = OnlineCollector()
        self.registry.register(self.online)
        self.gc = GcCollector()
        self.registry.register(self.gc)
        self.lists = ListCacheCollector()
        self.registry.register(self.lists)

    def watch_pending(self, source: Callable[[], PendingItems | None]) -> None:
        """Export the pending-items bound: ``source()`` is read at each scrape."""
        self.pending.source = source

    def watch_online(self, source: Callable[[], OnlineLoop | None]) -> None:
        """Export the online loop's counts: ``source()`` is read at each scrape."""
        self.online.source = source

    def watch_gc(self, source: Callable[[], GcPauses | None]) -> None:
        """Export the collector's pauses: ``source()`` is read at each scrape."""
        self.gc.source = source

    def watch_lists(self, source: Callable[[], ListCache | None]) -> None:
        """Export the kept lists' hits and misses: ``source()`` is read at each scrape."""
        self.lists.source = source

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


class PendingCollector(Collector):
    """Reads a :class:`~pulserec.state.pending.PendingItems` at scrape time.

    Exports ``pulserec_pending_items`` and ``pulserec_pending_pairs`` (held now, gauges)
    and ``pulserec_pending_dropped_total`` (pairs forgotten to stay within the bound,
    a counter); nothing while no source is set or it returns None.
    """

    def __init__(self) -> None:
        self.source: Callable[[], PendingItems | None] = lambda: None

    def collect(self) -> Iterator[Metric]:
        """The three metrics of the current source."""
        pending = self.source()
        if pending is None:
            return
        yield GaugeMetricFamily(
            "pulserec_pending_items",
            "Unknown item ids whose users are remembered until the item arrives.",
            value=len(pending),
        )
        yield GaugeMetricFamily(
            "pulserec_pending_pairs",
            "(unknown item, user) pairs held; at most the engine.max_pending setting.",
            value=pending.size,
        )
        yield CounterMetricFamily(
            "pulserec_pending_dropped",
            "(unknown item, user) pairs forgotten to stay within engine.max_pending.",
            value=pending.dropped,
        )

    def describe(self) -> Iterator[Metric]:
        """Nothing: the registry then never collects at registration time."""
        return iter(())


class ListCacheCollector(Collector):
    """Reads the engine's :class:`~pulserec.engine.listcache.ListCache` at scrape time.

    Exports ``pulserec_list_cache_hits_total`` and ``pulserec_list_cache_misses_total``
    (plain requests answered from a kept list, and ranked afresh, since start) and
    ``pulserec_list_cache_users`` (lists kept now); nothing while the cache is off.
    """

    def __init__(self) -> None:
        self.source: Callable[[], ListCache | None] = lambda: None

    def collect(self) -> Iterator[Metric]:
        """The three metrics of the current source."""
        cache = self.source()
        if cache is None or not cache.enabled:
            return
        yield CounterMetricFamily(
            "pulserec_list_cache_hits",
            "Plain recommendation requests answered from a kept list.",
            value=cache.hits,
        )
        yield CounterMetricFamily(
            "pulserec_list_cache_misses",
            "Plain recommendation requests ranked afresh while lists are kept.",
            value=cache.misses,
        )
        yield GaugeMetricFamily(
            "pulserec_list_cache_users", "Users whose latest list is kept.", value=len(cache)
        )

    def describe(self) -> Iterator[Metric]:
        """Nothing: the registry then never collects at registration time."""
        return iter(())


class OnlineCollector(Collector):
    """Reads the :class:`~pulserec.online.OnlineLoop`'s counts (since start) at scrape time.

    Per placement and variant: ``pulserec_online_lists_total``,
    ``pulserec_online_impressions_total``, ``pulserec_online_clicks_total``,
    ``pulserec_online_conversions_total``; clicks by position (1..10, and 11 for 11 and
    beyond) in ``pulserec_online_clicks_by_position_total``; served lists not written
    because the buffer was full in ``pulserec_online_lists_dropped_total``.
    """

    def __init__(self) -> None:
        self.source: Callable[[], OnlineLoop | None] = lambda: None

    def collect(self) -> Iterator[Metric]:
        """The online counters of the current source."""
        loop = self.source()
        if loop is None:
            return
        totals = dict(loop.counts.totals)
        names = ("lists", "impressions", "clicks", "conversions")
        for i, name in enumerate(names):
            family = CounterMetricFamily(
                f"pulserec_online_{name}", f"Served-list {name} since start.",
                labels=("placement", "variant"),
            )  # fmt: skip
            for (placement, variant), row in sorted(totals.items()):
                family.add_metric((placement, variant), row[i])
            yield family
        by_position = CounterMetricFamily(
            "pulserec_online_clicks_by_position", "Attributed clicks by list position.",
            labels=("placement", "position"),
        )  # fmt: skip
        for (placement, position), n in sorted(dict(loop.counts.clicks_by_position).items()):
            by_position.add_metric((placement, str(position)), n)
        yield by_position
        yield CounterMetricFamily(
            "pulserec_online_lists_dropped",
            "Served lists not logged because the write buffer was full.",
            value=loop.log.dropped,
        )
        writes = HistogramMetricFamily(
            "pulserec_online_list_write_seconds",
            "Writes of a batch of served lists to the store (the list log's thread).",
        )
        cumulative, buckets = 0, []
        for bound, n in zip((*map(str, WRITE_BUCKETS), "+Inf"), list(loop.log.write_counts),
                            strict=True):  # fmt: skip
            cumulative += n
            buckets.append((bound, float(cumulative)))
        writes.add_metric((), buckets, loop.log.write_seconds)
        yield writes
        yield GaugeMetricFamily(
            "pulserec_online_list_write_max_seconds",
            "The longest write of a batch of served lists since start.",
            value=loop.log.write_max_s,
        )

    def describe(self) -> Iterator[Metric]:
        """Nothing: the registry then never collects at registration time."""
        return iter(())


def _route_label(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class MetricsMiddleware:
    """Times every HTTP request and counts error answers (pure ASGI: cheap per request)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            elapsed = time.perf_counter() - start
            self.metrics.request_seconds.labels(scope["method"], _route_label(scope)).observe(
                elapsed
            )
            if status >= 400:
                self.metrics.errors.labels(str(status)).inc()
