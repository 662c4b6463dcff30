"""Mirror the application's metrics (``tellmemore.metrics``) to Ray's metrics.

Each node's Ray metrics agent serves what the processes on that node record, in Prometheus
format, on its metrics export port (8080 on KubeRay pods); Prometheus scrapes those, so metrics
from every replica and actor reach one place without a push gateway. Ray prefixes the names
with ``ray_`` and adds its own labels (``SessionName``, ``NodeAddress``, ``WorkerId``…).

Every process that records metrics and runs inside Ray calls :func:`install` once: the Serve
replicas, the batch pipeline's actors and its driver.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ray.util import metrics as ray_metrics

from tellmemore import metrics


class _RayCounter:
    def __init__(self, metric: ray_metrics.Counter) -> None:
        self._metric = metric

    def record(self, value: float, labels: Mapping[str, str]) -> None:
        self._metric.inc(value, tags=dict(labels))


class _RayHistogram:
    def __init__(self, metric: ray_metrics.Histogram) -> None:
        self._metric = metric

    def record(self, value: float, labels: Mapping[str, str]) -> None:
        self._metric.observe(value, tags=dict(labels))


class _RayGauge:
    def __init__(self, metric: ray_metrics.Gauge) -> None:
        self._metric = metric

    def record(self, value: float, labels: Mapping[str, str]) -> None:
        self._metric.set(value, tags=dict(labels))


class RayExporter:
    """``tellmemore.metrics.Exporter`` over ``ray.util.metrics``."""

    def counter(self, name: str, description: str, labels: Sequence[str]) -> _RayCounter:
        return _RayCounter(ray_metrics.Counter(name, description, tuple(labels)))

    def histogram(
        self, name: str, description: str, labels: Sequence[str], buckets: Sequence[float]
    ) -> _RayHistogram:
        return _RayHistogram(ray_metrics.Histogram(name, description, list(buckets), tuple(labels)))

    def gauge(self, name: str, description: str, labels: Sequence[str]) -> _RayGauge:
        return _RayGauge(ray_metrics.Gauge(name, description, tuple(labels)))


def install() -> None:
    """Mirror this process's application metrics to Ray (idempotent)."""
    metrics.export_to(RayExporter())
