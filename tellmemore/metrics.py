"""Application metrics, recorded once and exported two ways.

Every metric is kept in this process's Prometheus registry (served at the API's ``/metrics``
when the API runs on its own) and mirrored to any exporter installed with :func:`export_to`.
On the cluster the Serve replicas, the batch actors and the batch driver install Ray's
(``raykit.metrics``), so the values reach each node's Ray metrics endpoint — the one
Prometheus scrapes — without ``core`` importing Ray. Ray names them with a ``ray_`` prefix
(``ray_tmm_http_requests_total``), which is what the alert rules and the dashboard in
``cluster/monitoring/`` query.

Names follow Prometheus conventions: base units in the name, and counters are declared
without ``_total``, which both exporters append. Ray drops a gauge's value about two export
intervals after a process last set it, so gauges are for values a process re-sets
periodically (the queue depth); progress is counted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Protocol

import prometheus_client
from prometheus_client import CollectorRegistry, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
STAGE_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class Recorder(Protocol):
    """One metric in an exporter: ``record`` adds to a counter, observes into a histogram, or
    sets a gauge, for one combination of label values."""

    def record(self, value: float, labels: Mapping[str, str]) -> None: ...


class Exporter(Protocol):
    """Where metrics are mirrored (Ray's metrics on a cluster)."""

    def counter(self, name: str, description: str, labels: Sequence[str]) -> Recorder: ...

    def histogram(
        self, name: str, description: str, labels: Sequence[str], buckets: Sequence[float]
    ) -> Recorder: ...

    def gauge(self, name: str, description: str, labels: Sequence[str]) -> Recorder: ...


class Metric:
    kind = ""

    def __init__(self, name: str, description: str, labels: Sequence[str]) -> None:
        self.name = name
        self.description = description
        self.label_names = tuple(labels)
        self._mirrors: list[Recorder] = []
        with _LOCK:
            _METRICS.append(self)
            for exporter in _EXPORTERS:
                self._attach(exporter)

    def _attach(self, exporter: Exporter) -> None:
        raise NotImplementedError

    def _tags(self, values: Sequence[str]) -> dict[str, str]:
        if len(values) != len(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}, got {values}")
        return dict(zip(self.label_names, (str(v) for v in values), strict=True))

    def _mirror(self, value: float, tags: Mapping[str, str]) -> None:
        for mirror in self._mirrors:
            mirror.record(value, tags)


class Counter(Metric):
    kind = "counter"

    def __init__(self, name: str, description: str, labels: Sequence[str] = ()) -> None:
        self._local = prometheus_client.Counter(name, description, labels, registry=REGISTRY)
        super().__init__(name, description, labels)

    def _attach(self, exporter: Exporter) -> None:
        self._mirrors.append(exporter.counter(self.name, self.description, self.label_names))

    def labels(self, *values: str) -> CounterChild:
        return CounterChild(self, values)

    def inc(self, amount: float = 1.0) -> None:
        self.labels().inc(amount)


class CounterChild:
    def __init__(self, metric: Counter, values: Sequence[str]) -> None:
        self._metric = metric
        self._tags = metric._tags(values)

    def inc(self, amount: float = 1.0) -> None:
        if amount <= 0:
            return
        local = self._metric._local
        (local.labels(**self._tags) if self._tags else local).inc(amount)
        self._metric._mirror(amount, self._tags)


class Histogram(Metric):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        description: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> None:
        self.buckets = tuple(buckets)
        self._local = prometheus_client.Histogram(
            name, description, labels, buckets=self.buckets, registry=REGISTRY
        )
        super().__init__(name, description, labels)

    def _attach(self, exporter: Exporter) -> None:
        self._mirrors.append(
            exporter.histogram(self.name, self.description, self.label_names, self.buckets)
        )

    def labels(self, *values: str) -> HistogramChild:
        return HistogramChild(self, values)

    def observe(self, value: float) -> None:
        self.labels().observe(value)


class HistogramChild:
    def __init__(self, metric: Histogram, values: Sequence[str]) -> None:
        self._metric = metric
        self._tags = metric._tags(values)

    def observe(self, value: float) -> None:
        local = self._metric._local
        (local.labels(**self._tags) if self._tags else local).observe(value)
        self._metric._mirror(value, self._tags)


class Gauge(Metric):
    kind = "gauge"

    def __init__(self, name: str, description: str, labels: Sequence[str] = ()) -> None:
        self._local = prometheus_client.Gauge(name, description, labels, registry=REGISTRY)
        super().__init__(name, description, labels)

    def _attach(self, exporter: Exporter) -> None:
        self._mirrors.append(exporter.gauge(self.name, self.description, self.label_names))

    def labels(self, *values: str) -> GaugeChild:
        return GaugeChild(self, values)

    def set(self, value: float) -> None:
        self.labels().set(value)


class GaugeChild:
    def __init__(self, metric: Gauge, values: Sequence[str]) -> None:
        self._metric = metric
        self._tags = metric._tags(values)

    def set(self, value: float) -> None:
        local = self._metric._local
        (local.labels(**self._tags) if self._tags else local).set(value)
        self._metric._mirror(value, self._tags)


_LOCK = threading.Lock()
_METRICS: list[Metric] = []
_EXPORTERS: list[Exporter] = []


def export_to(exporter: Exporter) -> None:
    """Mirror every metric, present and future, to ``exporter`` (once per process)."""
    with _LOCK:
        if any(type(e) is type(exporter) for e in _EXPORTERS):
            return
        _EXPORTERS.append(exporter)
        for metric in _METRICS:
            metric._attach(exporter)


def all_metrics() -> list[Metric]:
    """Every metric declared so far (the monitoring tests check the rules against these)."""
    with _LOCK:
        return list(_METRICS)


@contextmanager
def timed(histogram: HistogramChild) -> Iterator[None]:
    """Observe the time the block takes (also when it raises)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        histogram.observe(time.perf_counter() - started)


def exposition() -> bytes:
    """Every metric of this process, as Prometheus text."""
    return generate_latest(REGISTRY)


# HTTP (the API's middleware): throughput, errors and latency per route template.
HTTP_REQUESTS = Counter(
    "tmm_http_requests",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
)
HTTP_SECONDS = Histogram(
    "tmm_http_request_seconds",
    "HTTP request latency (to the end of the response), by route template and method.",
    ["route", "method"],
)

# PostgreSQL: every statement through the pools' cursors.
DB_QUERY_SECONDS = Histogram(
    "tmm_db_query_seconds",
    "PostgreSQL statement time (execute and fetch), by statement kind.",
    ["statement"],
    buckets=DB_BUCKETS,
)
DB_ERRORS = Counter(
    "tmm_db_errors", "PostgreSQL statements that raised, by statement kind.", ["statement"]
)

# Caches and search.
CACHE_REQUESTS = Counter(
    "tmm_cache_requests",
    "Cache lookups by cache and result (hit or miss).",
    ["cache", "result"],
)
CACHE_INVALIDATIONS = Counter(
    "tmm_cache_invalidations",
    "Times a cache's generation was bumped (its entries dropped).",
    ["cache"],
)
SEARCH_SECONDS = Histogram(
    "tmm_search_seconds", "Search latency (uncached), by kind and mode.", ["kind", "mode"]
)
VECTOR_SEARCH_SECONDS = Histogram(
    "tmm_vector_search_seconds",
    "LanceDB query time, by table (segments or episodes) and query kind (vector or fts).",
    ["table", "query"],
)

# The job queue and online processing.
JOBS = Gauge(
    "tmm_jobs",
    "Jobs in the queue by kind and state (queued is the queue depth, dead the dead letters).",
    ["kind", "state"],
)
JOBS_FINISHED = Counter(
    "tmm_jobs_finished",
    "Job attempts that ended, by kind and outcome (done, retry or dead).",
    ["kind", "outcome"],
)
EPISODES_PROCESSED = Counter(
    "tmm_episodes_processed",
    "Episodes the online processor finished, by outcome (done or failed).",
    ["outcome"],
)
STAGE_SECONDS = Histogram(
    "tmm_processing_stage_seconds",
    "Time spent in one processing stage of one episode, by stage.",
    ["stage"],
    buckets=STAGE_BUCKETS,
)

# Batch reprocessing (Ray Data).
BATCH_EPISODES = Counter(
    "tmm_batch_episodes",
    "Episodes a batch run finished, by run and outcome (done or failed).",
    ["run", "outcome"],
)
# A counter rather than a gauge: Ray ages out gauge values a process stops re-setting, and the
# driver sets this once per round.
BATCH_PLANNED = Counter(
    "tmm_batch_planned_episodes",
    "Episodes a batch run sent through its stages (those already up to date are skipped).",
    ["run"],
)
