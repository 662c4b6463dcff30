"""The loop that takes episode jobs from the queue and processes them.

Up to ``concurrency`` episodes run at once. While one runs, its lease is renewed every third of
the lease; if renewal finds the job taken over (this worker was presumed dead), the attempt is
cancelled. Every failure is recorded on the job (retried with backoff, dead-lettered after the
last attempt) and on the episode, and the loop goes on with the next job. A worker told to stop
(its replica scaled in) hands its running jobs back without spending their attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from tellmemore.metrics import EPISODES_PROCESSED
from tellmemore.processing import rows
from tellmemore.processing.episode import EpisodeProcessor, error_of
from tellmemore.processing.jobs import PROCESS_EPISODE
from tellmemore.settings import ProcessingSettings
from tellmemore.storage import Job, JobQueue, wait_for_work

log = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class EpisodeWorker:
    def __init__(
        self,
        queue: JobQueue,
        processor: EpisodeProcessor,
        pool: AsyncConnectionPool,
        settings: ProcessingSettings,
        conninfo: str,
        *,
        name: str | None = None,
        after_done: Callable[[UUID], Awaitable[None]] | None = None,
    ) -> None:
        self._queue = queue
        self._after_done = after_done
        self._processor = processor
        self._pool = pool
        self._settings = settings
        self._conninfo = conninfo
        self.name = name or worker_name()
        self._running: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self.processed = 0
        self.failed = 0

    async def run(self) -> None:
        """Claim and process jobs until :meth:`stop`; never raises for a bad episode."""
        log.info("episode worker started", extra={"worker": self.name})
        try:
            await self._processor.record_settings()
        except Exception:  # the database is away: batch runs compare with the last record
            log.exception("recording the processor's settings failed", extra={"worker": self.name})
        while not self._stop.is_set():
            free = self._settings.concurrency - len(self._running)
            jobs: list[Job] = []
            if free > 0:
                try:
                    jobs = await self._queue.claim(
                        [PROCESS_EPISODE], self.name, lease_s=self._settings.lease_s, limit=free
                    )
                except Exception:  # the database is away: wait and try again
                    log.exception("claiming jobs failed", extra={"worker": self.name})
                    await self._sleep(self._settings.poll_s)
                    continue
            for job in jobs:
                task = asyncio.create_task(self._run_job(job))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            if jobs:
                continue
            await self._idle()
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    def stop(self) -> None:
        self._stop.set()

    async def _idle(self) -> None:
        """Wait for a NOTIFY, a finished slot, the poll interval, or stop — whichever first."""
        waits: list[asyncio.Task[object]] = [
            asyncio.create_task(self._notified()),
            asyncio.create_task(self._stop.wait()),
        ]
        if self._running and len(self._running) >= self._settings.concurrency:
            waits.append(asyncio.create_task(asyncio.wait(set(self._running))))
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _notified(self) -> bool:
        try:
            return await wait_for_work(self._conninfo, self._settings.poll_s)
        except Exception:
            await asyncio.sleep(self._settings.poll_s)
            return False

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _run_job(self, job: Job) -> None:
        episode_id = UUID(job.key)
        context = {"worker": self.name, "job_id": job.id, "episode_id": job.key,
                   "attempt": job.attempts}  # fmt: skip
        work = asyncio.create_task(self._processor.process(episode_id, attempt=job.attempts))
        keeper = asyncio.create_task(self._keep_lease(job, work))
        try:
            outcome = await work
        except asyncio.CancelledError:
            if self._stop.is_set():
                await self._release(job, context)
                raise
            if not work.cancelled():
                raise
            log.warning("lease lost; another worker has the episode now", extra=context)
            return
        except Exception as exc:
            await self._record_failure(job, exc, context)
            return
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        if await self._queue.complete(job.id, self.name):
            self.processed += 1
            EPISODES_PROCESSED.labels("done").inc()
            log.info("episode processed", extra={**context, "segments": outcome.segment_count,
                                                 "source": outcome.transcript_source})  # fmt: skip
            if self._after_done is not None:
                await self._after_done(episode_id)

    async def _release(self, job: Job, context: dict[str, object]) -> None:
        """Stopping (the replica is scaled in or redeployed) is not the episode's fault: hand
        the job back without spending an attempt, so scaling in never dead-letters work."""
        try:
            if await self._queue.release(job.id, self.name):
                async with self._pool.connection() as conn:
                    await rows.requeued(conn, UUID(job.key))
                log.info("job handed back on shutdown", extra=context)
        except Exception:
            log.exception("handing a job back failed; its lease will expire", extra=context)

    async def _keep_lease(self, job: Job, work: asyncio.Task[object]) -> None:
        interval = max(1.0, self._settings.lease_s / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                kept = await self._queue.extend(job.id, self.name, self._settings.lease_s)
            except Exception:
                log.exception("renewing a lease failed", extra={"job_id": job.id})
                continue
            if not kept:
                work.cancel()
                return

    async def _record_failure(self, job: Job, exc: Exception, context: dict[str, object]) -> None:
        self.failed += 1
        code, message = error_of(exc)
        final = job.attempts >= job.max_attempts
        EPISODES_PROCESSED.labels("failed" if final else "retry").inc()
        if code == "internal_error":
            log.exception("episode failed unexpectedly", extra=context)
        else:
            log.warning("episode failed", extra={**context, "code": code, "reason": message,
                                                 "final": final})  # fmt: skip
        try:
            if await self._queue.fail(job, self.name, code=code, error=message):
                async with self._pool.connection() as conn:
                    await rows.failed(conn, UUID(job.key), code=code, message=message, final=final)
        except Exception:
            log.exception("recording a failure failed; the lease will expire", extra=context)
