"""Batch runs and the online worker claim an episode through the same job-queue lease: a batch
run's hold keeps the worker off, the worker's job keeps the batch run off, a request made while
held waits for the hold, and a dead holder's holds never turn into online work."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest

from tellmemore.settings import Settings
from tellmemore.storage import Backoff, JobQueue, holds, make_pool

KIND = "process_episode"
BATCH = "batch:plan-a"


@pytest.fixture
async def queue(settings: Settings, database_url: str) -> AsyncIterator[JobQueue]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE jobs")
    pool = make_pool(settings.database)
    await pool.open(wait=True)
    try:
        yield JobQueue(pool, backoff=Backoff(base_s=30.0, max_s=600.0))
    finally:
        await pool.close()


@pytest.fixture
def batch(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """The batch driver's connection (synchronous, as in the driver)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


async def test_a_held_episode_is_not_claimed_and_a_request_waits_for_the_hold(
    queue: JobQueue, batch: psycopg.Connection[Any]
) -> None:
    assert holds.take(batch, KIND, ["ep-1", "ep-2"], BATCH, 60) == {"ep-1", "ep-2"}
    assert await queue.claim([KIND], "online") == []  # the worker skips held episodes
    # Someone asks for ep-1 meanwhile (subscribing, a feed refresh): recorded on the hold.
    assert await queue.enqueue(KIND, "ep-1", max_attempts=3) is not None
    assert await queue.claim([KIND], "online") == []
    backlog = await queue.backlog(KIND)  # the batch run's work is not the workers' load
    assert (backlog.running, backlog.due) == (0, 0)
    assert (await queue.depth())["held"] == 2
    assert holds.let_go(batch, KIND, ["ep-1", "ep-2"], BATCH) == 1
    # The request is served after the batch run; the episode nobody asked for is gone.
    (job,) = await queue.claim([KIND], "online")
    assert (job.key, job.attempts, job.max_attempts, job.payload) == ("ep-1", 1, 3, {})
    assert await queue.claim([KIND], "online") == []
    assert await queue.depth() == {"queued": 0, "running": 1, "held": 0, "done": 0, "dead": 0}


async def test_a_batch_run_cannot_hold_what_the_online_worker_has(
    queue: JobQueue, batch: psycopg.Connection[Any]
) -> None:
    await queue.enqueue(KIND, "running")
    (job,) = await queue.claim([KIND], "online")
    await queue.enqueue(KIND, "queued")
    assert holds.take(batch, KIND, ["running", "queued", "free"], BATCH, 60) == {"free"}
    # Nothing the worker had was touched.
    assert await queue.complete(job.id, "online")
    (queued,) = await queue.claim([KIND], "online")
    assert queued.key == "queued"


async def test_a_dead_batch_drivers_holds_are_let_go_not_processed(
    queue: JobQueue, batch: psycopg.Connection[Any]
) -> None:
    assert holds.take(batch, KIND, ["ep-a", "ep-b"], BATCH, 0.3) == {"ep-a", "ep-b"}
    await queue.enqueue(KIND, "ep-b")  # asked for while held
    assert holds.take(batch, KIND, ["ep-a"], "batch:plan-b", 60) == set()  # still held
    await asyncio.sleep(0.4)  # the driver died: no heartbeat renews the leases
    (job,) = await queue.claim([KIND], "online")
    assert job.key == "ep-b" and job.attempts == 1
    assert await queue.claim([KIND], "online") == []
    assert await queue.dead() == []  # an expired hold is not a failed job
    # The dead driver's writer, had it woken up, would not write: its hold is gone.
    assert not holds.keep(batch, KIND, "ep-a", BATCH, 60)
    assert holds.take(batch, KIND, ["ep-a"], "batch:plan-b", 60) == {"ep-a"}


def test_a_resumed_run_takes_its_own_holds_back_at_once(batch: psycopg.Connection[Any]) -> None:
    batch.execute("TRUNCATE jobs")
    assert holds.take(batch, KIND, ["ep-1"], BATCH, 600) == {"ep-1"}
    # The driver was killed; the same command (same plan) starts again before the lease ends.
    assert holds.take(batch, KIND, ["ep-1", "ep-1", "ep-2"], BATCH, 600) == {"ep-1", "ep-2"}
    assert holds.take(batch, KIND, ["ep-1"], "batch:another-plan", 600) == set()
    assert holds.renew(batch, BATCH, 600) == 2
    assert holds.keep(batch, KIND, "ep-2", BATCH, 600)
    assert holds.let_go_all(batch, BATCH) == 0
    assert batch.execute("SELECT count(*) FROM jobs").fetchone() == (0,)
