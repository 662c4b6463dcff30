"""The processor scales with the job queue on a real local Ray: queued episodes whose downloads
block (the test's loopback server drips their enclosures) bring more Processor replicas, and an
empty queue takes them away again.

A small app of its own: the real ``Processor`` deployment with its real queue-depth policy
(options from :class:`serve_apps.builder.ProcessorOptions`), and idle stand-ins where the
transcriber and embedder handles go (no episode gets that far). Its own Ray cluster, started
and stopped here, so the full app's replicas (test_online) never take these jobs.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast
from uuid import UUID

import psycopg
import pytest
from ray.serve.deployment import Deployment

from serve_apps.builder import AppOptions, ProcessorOptions, QueueAutoscaling, processor_settings
from tellmemore.processing import EpisodeJobs, make_queue
from tellmemore.settings import ApiSettings, Settings, secret_environment
from tellmemore.storage import make_pool
from tests.serve.conftest import free_port
from tests.support.http_server import LoopbackHTTPServer, Route

pytestmark = [pytest.mark.slow, pytest.mark.serve]

APP = "processor-scaling"
JOBS = 4
MAX_REPLICAS = 3
# Replicas push their autoscaling metrics every 10 s by default; Ray reads this at start.
PUSH_ENV = "RAY_SERVE_REPLICA_AUTOSCALING_METRIC_PUSH_INTERVAL_S"


@dataclass(frozen=True)
class Scaling:
    settings: Settings


@pytest.fixture(scope="module")
def scaling_settings(online_settings: Settings) -> Settings:
    processing = online_settings.processing.model_copy(
        update={
            "concurrency": 1,  # one episode per replica: more episodes need more replicas
            "max_attempts": 1,  # a finished drip fails the episode for good: the queue empties
            "poll_s": 0.5,
            "metrics_interval_s": 0.5,
        }
    )
    return online_settings.model_copy(
        update={"processing": processing, "api": ApiSettings(port=free_port())}
    )


@pytest.fixture(scope="module")
def scaling_app(scaling_settings: Settings) -> Iterator[Scaling]:
    """Ray + Serve with only the processor (and idle stand-ins), stopped after the module."""
    import ray
    from ray import serve

    from raykit.local import start_ray
    from serve_apps.local import wait_until_running
    from serve_apps.processor import Processor

    # Defined here, so Ray ships it by value (workers cannot import the tests package).
    @serve.deployment(name="Idle", num_replicas=1, ray_actor_options={"num_cpus": 0})
    class Idle:
        """Where the transcriber and embedder handles go: nothing gets that far."""

    previous = os.environ.get(PUSH_ENV)
    os.environ[PUSH_ENV] = "0.5"
    options = ProcessorOptions(
        num_cpus=0.25,
        autoscaling=QueueAutoscaling(
            min_replicas=1,
            max_replicas=MAX_REPLICAS,
            jobs_per_replica=1,
            look_back_period_s=2.0,
            upscale_delay_s=0.0,
            downscale_delay_s=3.0,
        ),
    ).as_options(concurrency=scaling_settings.processing.concurrency)
    try:
        start_ray(num_cpus=4, environment=secret_environment(scaling_settings))
        serve.start(http_options={"host": "127.0.0.1", "port": scaling_settings.api.port})
        idle = cast(Deployment, Idle).bind()
        settings = processor_settings(scaling_settings, AppOptions())
        app = cast(Deployment, Processor).options(**options).bind(settings, idle, idle)
        serve.run(app, name=APP, route_prefix=None, blocking=False)
        wait_until_running([APP], timeout_s=120)
        yield Scaling(scaling_settings)
    finally:
        # The cluster is this module's alone and its queue ends empty (every episode dead):
        # stopping Ray stops every replica at once, where Serve's graceful shutdown waits on
        # each deployment in turn (30 s), as the local runner does (serve_apps/local.py).
        ray.shutdown()
        if previous is None:
            os.environ.pop(PUSH_ENV, None)
        else:
            os.environ[PUSH_ENV] = previous


def running_replicas() -> int:
    from ray import serve

    app = serve.status().applications.get(APP)
    if app is None or "Processor" not in app.deployments:
        return 0
    states = app.deployments["Processor"].replica_states
    return sum(n for state, n in states.items() if str(state).endswith("RUNNING"))


async def queue_episodes(settings: Settings, feed_server: LoopbackHTTPServer) -> list[UUID]:
    """``JOBS`` episodes whose enclosures drip for ~12 s, then turn out not to be audio."""
    key = uuid.uuid4().hex[:8]
    with psycopg.connect(settings.database.url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO podcasts (feed_url, title) VALUES (%s, 'Busy show') RETURNING id",
            (f"{feed_server.base_url}/scaling-{key}/feed.xml",),
        ).fetchone()
        assert row is not None
        ids: list[UUID] = []
        for i in range(JOBS):
            url = feed_server.add(
                f"/scaling-{key}/{i}.wav",
                Route(body=b"RIFF" + bytes(24 * 1024), content_type="audio/wav",
                      drip_s=0.5, drip_bytes=1024),
            )  # fmt: skip
            found = conn.execute(
                "INSERT INTO episodes (podcast_id, identity_key, title, content_sha256,"
                " enclosure_url, enclosure_type) VALUES (%s, %s, %s, 'x', %s, 'audio/wav')"
                " RETURNING id",
                (row[0], f"e{i}", f"Episode {i}", url),
            ).fetchone()
            assert found is not None
            ids.append(UUID(str(found[0])))
    pool = make_pool(settings.database)
    await pool.open(wait=True)
    try:
        queue = make_queue(pool, settings.processing)
        return await EpisodeJobs(pool, queue, settings.processing).enqueue(ids)
    finally:
        await pool.close()


def states(settings: Settings, ids: list[UUID]) -> list[str]:
    with psycopg.connect(settings.database.url) as conn:
        found = conn.execute(
            "SELECT state FROM jobs WHERE key = ANY(%s)", ([str(i) for i in ids],)
        ).fetchall()
    return [str(r[0]) for r in found]


async def test_processor_replicas_follow_the_queue(
    scaling_app: Scaling, feed_server: LoopbackHTTPServer
) -> None:
    import asyncio

    assert running_replicas() == 1  # min_replicas while the queue is empty
    started = time.monotonic()
    ids = await queue_episodes(scaling_app.settings, feed_server)
    assert len(ids) == JOBS
    timeline: list[tuple[float, int, int]] = []  # (seconds, running replicas, runnable jobs)
    peak = 1
    deadline = started + 100
    while time.monotonic() < deadline:
        replicas = running_replicas()
        runnable = sum(s in ("queued", "running") for s in states(scaling_app.settings, ids))
        if not timeline or timeline[-1][1:] != (replicas, runnable):
            timeline.append((round(time.monotonic() - started, 1), replicas, runnable))
        peak = max(peak, replicas)
        if peak == MAX_REPLICAS and runnable == 0 and replicas == 1:
            break
        await asyncio.sleep(0.5)
    print("processor replicas over time (s, replicas, runnable jobs):", timeline)
    # Up: four jobs at one per replica ask for more than the maximum of three.
    assert peak == MAX_REPLICAS, timeline
    up_at = next(t for t, n, _ in timeline if n == MAX_REPLICAS)
    # While the scaled-up replicas ran, they took jobs: several downloads at once.
    assert any(n == MAX_REPLICAS and r > 0 for _, n, r in timeline), timeline
    # Down: the queue emptied (every drip ended, each episode failed for good) and the
    # replicas went back to the minimum.
    assert set(states(scaling_app.settings, ids)) == {"dead"}
    assert running_replicas() == 1, timeline
    down_at = next(t for t, n, r in timeline if t > up_at and n == 1 and r == 0)
    assert down_at > up_at
