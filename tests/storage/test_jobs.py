"""The PostgreSQL job queue: exclusive claims, leases, backoff, dead letters, wake-ups."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import psycopg
import pytest

from tellmemore.settings import Settings
from tellmemore.storage import Backoff, JobQueue, make_pool, wait_for_work


@pytest.fixture
async def queue(settings: Settings, database_url: str) -> AsyncIterator[JobQueue]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE jobs")
    pool = make_pool(settings.database)
    await pool.open(wait=True)
    try:
        yield JobQueue(pool, backoff=Backoff(base_s=30.0, max_s=600.0, jitter=0.2))
    finally:
        await pool.close()


async def test_one_live_job_per_key(queue: JobQueue) -> None:
    first = await queue.enqueue("process_episode", "ep-1", {"episode_id": "ep-1"})
    assert first is not None
    assert await queue.enqueue("process_episode", "ep-1") is None  # already queued
    (job,) = await queue.claim(["process_episode"], "w1")
    assert await queue.enqueue("process_episode", "ep-1") is None  # still running
    assert await queue.complete(job.id, "w1")
    assert await queue.enqueue("process_episode", "ep-1") is not None  # done: may run again
    assert job.payload == {"episode_id": "ep-1"}


async def test_concurrent_workers_never_share_a_job(queue: JobQueue) -> None:
    for i in range(40):
        await queue.enqueue("process_episode", f"ep-{i}")

    async def worker(name: str) -> list[int]:
        taken: list[int] = []
        while jobs := await queue.claim(["process_episode"], name, limit=3):
            taken += [j.id for j in jobs]
            for j in jobs:
                assert await queue.complete(j.id, name)
        return taken

    results = await asyncio.gather(*(worker(f"w{i}") for i in range(4)))
    everything = [job for taken in results for job in taken]
    assert len(everything) == len(set(everything)) == 40
    assert (await queue.depth())["done"] == 40


async def test_failures_back_off_then_dead_letter_then_retry(queue: JobQueue) -> None:
    job_id = await queue.enqueue("process_episode", "ep-x", max_attempts=3)
    assert job_id is not None
    for attempt in (1, 2):
        (job,) = await queue.claim(["process_episode"], "w1")
        assert job.attempts == attempt
        assert await queue.fail(job, "w1", code="download_failed", error="HTTP 404 for audio")
        queued = await queue.get(job_id)
        assert queued is not None
        assert queued.state == "queued"
        delay = (queued.run_after - queued.updated_at).total_seconds()
        expected = 30.0 * 2 ** (attempt - 1)
        assert expected * 0.79 <= delay <= expected * 1.21  # exponential, with jitter
        assert await queue.claim(["process_episode"], "w1") == []  # not due yet
        async with queue._pool.connection() as conn:  # let the backoff pass
            await conn.execute("UPDATE jobs SET run_after = now() WHERE id = %s", (job_id,))
    (job,) = await queue.claim(["process_episode"], "w1")
    assert job.attempts == 3
    assert await queue.fail(job, "w1", code="download_failed", error="HTTP 404 for audio")
    (dead,) = await queue.dead("process_episode")
    assert (dead.id, dead.state, dead.last_error_code) == (job_id, "dead", "download_failed")
    assert dead.last_error == "HTTP 404 for audio"
    assert await queue.retry(job_id)
    (again,) = await queue.claim(["process_episode"], "w2")
    assert (again.id, again.attempts) == (job_id, 1)


async def test_a_crashed_workers_job_is_reclaimed_and_fenced(queue: JobQueue) -> None:
    job_id = await queue.enqueue("process_episode", "ep-crash", max_attempts=2)
    (job,) = await queue.claim(["process_episode"], "crashed", lease_s=0.3)
    assert await queue.claim(["process_episode"], "other") == []  # leased
    await asyncio.sleep(0.4)
    (taken,) = await queue.claim(["process_episode"], "other", lease_s=0.3)
    assert (taken.id, taken.attempts, taken.locked_by) == (job_id, 2, "other")
    # The worker that lost its lease cannot overwrite the new holder's outcome.
    assert not await queue.complete(job.id, "crashed")
    assert not await queue.fail(job, "crashed", code="x", error="late")
    # Past its last attempt, an expired lease dead-letters the job.
    await asyncio.sleep(0.4)
    assert await queue.claim(["process_episode"], "third") == []
    (dead,) = await queue.dead()
    assert (dead.id, dead.last_error_code) == (job_id, "lease_expired")


async def test_notify_wakes_a_waiting_worker_and_polling_covers_the_rest(
    queue: JobQueue, database_url: str
) -> None:
    started = time.monotonic()
    assert await wait_for_work(database_url, timeout_s=0.3) is False  # nothing: polls on
    assert time.monotonic() - started >= 0.3

    async def enqueue_later() -> None:
        await asyncio.sleep(0.3)
        await queue.enqueue("process_episode", "ep-wake")

    started = time.monotonic()
    woke, _ = await asyncio.gather(wait_for_work(database_url, timeout_s=10), enqueue_later())
    assert woke is True
    assert time.monotonic() - started < 3
