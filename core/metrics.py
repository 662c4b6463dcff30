"""Application metrics in the Prometheus exposition format.

Counters and histograms live in one registry per process; the API serves it at ``/metrics``.
Names follow Prometheus conventions (``_total`` counters, base units in the name).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

CACHE_REQUESTS = Counter(
    "tmm_cache_requests_total",
    "Cache lookups by cache and result (hit or miss).",
    ["cache", "result"],
    registry=REGISTRY,
)
CACHE_INVALIDATIONS = Counter(
    "tmm_cache_invalidations_total",
    "Times a cache's generation was bumped (its entries dropped).",
    ["cache"],
    registry=REGISTRY,
)
SEARCH_SECONDS = Histogram(
    "tmm_search_seconds",
    "Search latency (uncached), by kind and mode.",
    ["kind", "mode"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)


def exposition() -> bytes:
    """Every metric of this process, as Prometheus text."""
    return generate_latest(REGISTRY)
