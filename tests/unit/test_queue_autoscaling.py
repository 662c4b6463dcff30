"""The processor's queue-depth autoscaling: the policy's arithmetic and the options that wire it.

Pure Python: the policy is called with a stand-in for Serve's ``AutoscalingContext`` carrying
the fields it reads; the real Serve loop runs it in tests/serve/test_processor_scaling.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from pydantic import ValidationError
from ray.serve.config import AutoscalingConfig, AutoscalingContext

from serve_apps.autoscaling import (
    POLICY_PATH,
    RUNNABLE_JOBS,
    QueueDepthPolicy,
    desired_replicas,
    queue_depth,
)
from serve_apps.builder import AppOptions, QueueAutoscaling


@pytest.mark.parametrize(
    ("runnable", "per_replica", "expected"),
    [
        (0, 2, 1),  # an empty queue: the minimum
        (1, 2, 1),
        (2, 2, 1),
        (3, 2, 2),  # one job over a replica's share asks for another replica
        (8, 2, 4),
        (9, 2, 5),  # capped at max_replicas
        (100, 2, 5),
        (2.5, 1, 3),  # averaged reports are fractional: round up
        (3, 1.5, 2),
    ],
)
def test_one_replica_per_share_of_runnable_jobs(
    runnable: float, per_replica: float, expected: int
) -> None:
    assert desired_replicas(runnable, per_replica, min_replicas=1, max_replicas=5) == expected


def test_bounds_and_bad_shares() -> None:
    assert desired_replicas(0, 2, min_replicas=2, max_replicas=4) == 2
    assert desired_replicas(0, 2, min_replicas=0, max_replicas=4) == 0
    with pytest.raises(ValueError, match="positive"):
        desired_replicas(4, 0, min_replicas=1, max_replicas=4)
    with pytest.raises(ValueError, match="positive"):
        QueueDepthPolicy(jobs_per_replica=0)


def test_the_queue_depth_is_the_highest_report_not_the_sum() -> None:
    # Every replica reads the same table: three reports of 6 are a queue of 6, not 18.
    assert queue_depth({RUNNABLE_JOBS: {"r1": 6.0, "r2": 6.0, "r3": 5.5}}) == 6.0
    assert queue_depth({RUNNABLE_JOBS: {}}) is None
    assert queue_depth({"other": {"r1": 1.0}}) is None
    assert queue_depth(None) is None


@dataclass
class Context:
    """The fields of Serve's AutoscalingContext the policy reads."""

    aggregated_metrics: dict[str, dict[Any, float]] | None
    target_num_replicas: int = 2
    capacity_adjusted_min_replicas: int = 1
    capacity_adjusted_max_replicas: int = 4
    policy_state: dict[str, Any] = field(default_factory=dict)


def decide(policy: QueueDepthPolicy, context: Context) -> tuple[int, dict[str, Any]]:
    return policy(cast(AutoscalingContext, context))


def test_policy_scales_up_down_and_holds_without_reports() -> None:
    policy = QueueDepthPolicy(jobs_per_replica=2)
    assert decide(policy, Context({RUNNABLE_JOBS: {"a": 7.0}}))[0] == 4
    assert decide(policy, Context({RUNNABLE_JOBS: {"a": 30.0}}))[0] == 4  # max
    wanted, state = decide(policy, Context({RUNNABLE_JOBS: {"a": 0.0, "b": 0.0}}))
    assert wanted == 1 and state[RUNNABLE_JOBS] == 0.0  # idle: down to the minimum
    # Replicas starting have not reported yet: keep the current target, neither up nor down.
    assert decide(policy, Context({}, target_num_replicas=3))[0] == 3
    assert decide(policy, Context(None, target_num_replicas=2, policy_state={"k": 1})) == (
        2,
        {"k": 1},
    )


def test_processor_options_wire_the_policy_into_serve() -> None:
    options = AppOptions.model_validate(
        {"processor": {"autoscaling": {"min_replicas": 1, "max_replicas": 4}}}
    ).processor
    built = options.as_options(concurrency=3)
    assert built["num_replicas"] == "auto"
    config = AutoscalingConfig(**built["autoscaling_config"])  # Ray's own validation
    assert (config.min_replicas, config.max_replicas) == (1, 4)
    assert config.policy.policy_function == POLICY_PATH
    assert config.policy.policy_kwargs == {"jobs_per_replica": 3.0}  # the worker's concurrency
    policy = config.policy.get_policy()
    assert isinstance(policy(jobs_per_replica=3.0), QueueDepthPolicy)
    explicit = QueueAutoscaling(max_replicas=4, jobs_per_replica=1.5).as_config(concurrency=3)
    assert explicit["policy"]["policy_kwargs"] == {"jobs_per_replica": 1.5}
    # Fixed replicas stay fixed: the default (and cluster/serve/local.yaml) is one replica.
    assert AppOptions().processor.as_options()["num_replicas"] == 1


def test_a_processor_that_could_scale_to_zero_is_refused() -> None:
    # With no replica nobody reads the queue, so nothing would ever scale it up again.
    with pytest.raises(ValidationError, match="min_replicas"):
        AppOptions.model_validate({"processor": {"autoscaling": {"min_replicas": 0}}})
    with pytest.raises(ValidationError, match="jobs_per_replica"):
        QueueAutoscaling(jobs_per_replica=0)
