"""Scaling the processor with the job queue instead of with requests.

Serve scales a deployment on the requests it receives, and the processor receives almost none:
it pulls episode jobs from PostgreSQL. So each processor replica reports the queue's runnable
jobs (running + due, not those waiting out a backoff) as a custom autoscaling metric
(:data:`RUNNABLE_JOBS`, from ``Processor.record_autoscaling_stats``), and
:class:`QueueDepthPolicy` asks for one replica per ``jobs_per_replica`` of them. Serve's wrapper
around a custom policy still applies ``min_replicas``/``max_replicas`` and the upscale and
downscale delays, so a short burst or a brief lull does not churn replicas.

Serve pickles this module by value into its controller, so it imports nothing of ours.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ray.serve.config import AutoscalingContext

# The custom metric each processor replica reports: the table-wide count of runnable jobs.
RUNNABLE_JOBS = "runnable_jobs"
POLICY_PATH = "serve_apps.autoscaling:QueueDepthPolicy"


def desired_replicas(
    runnable_jobs: float, jobs_per_replica: float, *, min_replicas: int, max_replicas: int
) -> int:
    """Replicas for ``runnable_jobs`` at ``jobs_per_replica`` each, within the bounds; an empty
    queue asks for ``min_replicas``. Running jobs count, so busy replicas are not taken away
    while their episodes run."""
    if jobs_per_replica <= 0:
        raise ValueError("jobs_per_replica must be positive")
    wanted = math.ceil(runnable_jobs / jobs_per_replica) if runnable_jobs > 0 else 0
    return max(min_replicas, min(max_replicas, wanted))


def queue_depth(metrics: dict[str, dict[Any, float]] | None) -> float | None:
    """The queue depth the replicas reported, or None before any reported. Every replica reads
    the same table, so the highest report (the freshest rise) stands for all; summing would
    count the queue once per replica."""
    reports = (metrics or {}).get(RUNNABLE_JOBS) or {}
    return max(reports.values()) if reports else None


class QueueDepthPolicy:
    """A Serve custom autoscaling policy (``AutoscalingConfig.policy``): replicas follow the
    processor's queue. Serve builds it once with ``policy_kwargs`` and calls it every tick."""

    def __init__(self, jobs_per_replica: float = 2.0) -> None:
        if jobs_per_replica <= 0:
            raise ValueError("jobs_per_replica must be positive")
        self.jobs_per_replica = jobs_per_replica

    def __call__(self, ctx: AutoscalingContext) -> tuple[int, dict[str, Any]]:
        depth = queue_depth(ctx.aggregated_metrics)
        if depth is None:  # replicas starting, nothing reported yet: hold where we are
            return ctx.target_num_replicas, ctx.policy_state
        wanted = desired_replicas(
            depth,
            self.jobs_per_replica,
            min_replicas=ctx.capacity_adjusted_min_replicas,
            max_replicas=ctx.capacity_adjusted_max_replicas,
        )
        return wanted, {**ctx.policy_state, RUNNABLE_JOBS: depth}
