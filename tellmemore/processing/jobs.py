"""Which episodes get processed: queueing them as jobs, and the failed-job view for operators.

Subscribing queues a podcast's newest unprocessed episodes, a feed refresh queues the episodes
it found, and an operator can retry a dead-lettered job. The processor (``processing/``) takes
jobs of kind :data:`PROCESS_EPISODE` from the same :class:`~tellmemore.storage.jobs.JobQueue`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from tellmemore.errors import CatalogError, ErrorKind
from tellmemore.settings import ProcessingSettings
from tellmemore.storage import Backoff, Job, JobQueue

PROCESS_EPISODE = "process_episode"
# Someone may have this episode processed: the flag (forced, or no verification required), a
# verified subscriber, or no subscriber at all.
_WANTED = (
    "(%s OR EXISTS (SELECT 1 FROM subscriptions s JOIN users u ON u.id = s.user_id "
    "WHERE s.podcast_id = e.podcast_id AND u.email_verified_at IS NOT NULL) "
    "OR NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.podcast_id = e.podcast_id))"
)


@dataclass(frozen=True)
class FailedJob:
    """A dead-lettered episode job with what the operator needs to decide on a retry."""

    job_id: int
    episode_id: UUID
    episode_title: str | None
    podcast_id: UUID | None
    attempts: int
    error_code: str | None
    error: str | None
    failed_at: datetime


def make_queue(pool: AsyncConnectionPool, settings: ProcessingSettings) -> JobQueue:
    return JobQueue(
        pool, backoff=Backoff(base_s=settings.backoff_base_s, max_s=settings.backoff_max_s)
    )


class EpisodeJobs:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        queue: JobQueue,
        settings: ProcessingSettings,
        *,
        verified_interest_only: bool = False,
    ) -> None:
        self._pool = pool
        self._queue = queue
        self._settings = settings
        # Queue (unforced) only episodes of podcasts that a verified account subscribes to, or
        # that nobody subscribes to (the operator's own catalog): an unverified account's
        # feeds wait for its email to be verified (AuthSettings.require_email_verification).
        self._verified_interest_only = verified_interest_only

    async def enqueue_newest(self, podcast_id: UUID, count: int | None = None) -> list[UUID]:
        """Queue the podcast's newest ``count`` episodes that were never processed."""
        count = self._settings.enqueue_newest if count is None else count
        if count <= 0:
            return []
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT id FROM episodes WHERE podcast_id = %s AND status = 'new' "
                "AND (enclosure_url IS NOT NULL OR transcripts <> '[]'::jsonb) "
                "ORDER BY sort_at DESC, id DESC LIMIT %s",
                (podcast_id, count),
            )
            ids = [row[0] for row in await cur.fetchall()]
        return await self.enqueue(ids)

    async def enqueue(self, episode_ids: Sequence[UUID], *, force: bool = False) -> list[UUID]:
        """Queue episodes (those already queued or running are left alone); returns the ids
        that got a new job. ``force`` also requeues finished or failed episodes."""
        states = ["new", "queued", "processing", "done", "failed"] if force else ["new"]
        queued: list[UUID] = []
        for episode_id in episode_ids:
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    "UPDATE episodes e SET status = 'queued', processing_step = NULL, "
                    "processing_progress = NULL, updated_at = now() "
                    "WHERE e.id = %s AND e.status = ANY(%s) "
                    f"AND {_WANTED} RETURNING e.id",
                    (episode_id, states, force or not self._verified_interest_only),
                )
                if await cur.fetchone() is None:
                    continue
                job = await self._queue.enqueue(
                    PROCESS_EPISODE,
                    str(episode_id),
                    max_attempts=self._settings.max_attempts,
                    conn=conn,
                )
            if job is not None:
                queued.append(episode_id)
        return queued

    async def failed(self, *, limit: int = 100) -> list[FailedJob]:
        jobs = await self._queue.dead(PROCESS_EPISODE, limit=limit)
        titles = await self._titles([UUID(j.key) for j in jobs])
        return [_failed(j, titles.get(UUID(j.key))) for j in jobs]

    async def retry(self, job_id: int) -> FailedJob:
        """Send a dead-lettered job back to the queue; 404 unless it is dead."""
        job = await self._queue.get(job_id)
        if job is None or job.kind != PROCESS_EPISODE or job.state != "dead":
            raise CatalogError(
                "job_not_failed",
                "There is no failed episode job with this id (it may have been retried already).",
                ErrorKind.NOT_FOUND,
            )
        if not await self._queue.retry(job_id):
            raise CatalogError(
                "job_not_failed", "This job was retried by someone else.", ErrorKind.CONFLICT
            )
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE episodes SET status = 'queued', updated_at = now() WHERE id = %s",
                (UUID(job.key),),
            )
        titles = await self._titles([UUID(job.key)])
        return _failed(job, titles.get(UUID(job.key)))

    async def depth(self) -> dict[str, int]:
        return await self._queue.depth()

    async def _titles(self, ids: list[UUID]) -> dict[UUID, tuple[str, UUID]]:
        if not ids:
            return {}
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT id, title, podcast_id FROM episodes WHERE id = ANY(%s)", (ids,)
            )
            return {row[0]: (row[1], row[2]) for row in await cur.fetchall()}


def _failed(job: Job, title: tuple[str, UUID] | None) -> FailedJob:
    meta: Any = title or (None, None)
    return FailedJob(
        job_id=job.id,
        episode_id=UUID(job.key),
        episode_title=meta[0],
        podcast_id=meta[1],
        attempts=job.attempts,
        error_code=job.last_error_code,
        error=job.last_error,
        failed_at=job.updated_at,
    )
