"""A durable job queue in PostgreSQL, in place of a message broker and its dead-letter queue.

- **Claim** with ``FOR UPDATE SKIP LOCKED``: concurrent workers never get the same job and never
  wait on each other.
- **Lease** (visibility timeout): a claimed job is the worker's until ``locked_until``; a worker
  that crashed simply stops renewing, and the job is claimed again later (the attempt counts).
  Completion and failure are fenced by the worker id, so a worker whose lease expired cannot
  overwrite the result of the worker that took over.
- **Backoff**: a failed attempt waits ``base * 2^(attempt-1)`` (with jitter, capped) before it is
  tried again; after ``max_attempts`` the job is dead-lettered with its last error, and can be
  retried by hand.
- **Holds**: a batch run takes the same lease on the episodes it processes, as a running row
  marked ``payload.hold`` (:mod:`tellmemore.storage.holds`): claims skip it like any lease,
  enqueueing a held key records the request on the hold, and an expired hold is let go (deleted,
  or queued when requested) instead of being claimed, so it never turns into a worker's job.
- **Wake-ups**: enqueueing sends ``NOTIFY``; workers ``LISTEN`` and fall back to polling, so a
  lost notification only delays work, never loses it. Times are the database's, so workers on
  machines with skewed clocks agree.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from tellmemore.metrics import JOBS, JOBS_FINISHED
from tellmemore.storage import holds

CHANNEL = "tmm_jobs"
# "held" is not a column value: it is a running row that a hold took (reported apart).
STATES = ("queued", "running", "held", "done", "dead")

_COLUMNS = (
    "id, kind, key, payload, state, attempts, max_attempts, run_after, locked_until, locked_by,"
    " last_error_code, last_error, created_at, updated_at, finished_at"
)


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    key: str
    payload: dict[str, Any]
    state: str
    attempts: int
    max_attempts: int
    run_after: datetime
    locked_until: datetime | None
    locked_by: str | None
    last_error_code: str | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class Backoff:
    base_s: float = 30.0
    max_s: float = 3600.0
    jitter: float = 0.2  # +-20 %: workers that failed together do not retry together

    def delay_s(self, attempt: int) -> float:
        raw: float = min(self.max_s, self.base_s * 2.0 ** max(0, attempt - 1))
        return raw * (1.0 + random.uniform(-self.jitter, self.jitter))  # noqa: S311 (not crypto)


@dataclass(frozen=True)
class Backlog:
    """The work of one kind right now: what runs, what could start now, and what waits out
    a backoff. ``running + due`` is the load that worker capacity should match."""

    running: int
    due: int
    delayed: int

    @property
    def runnable(self) -> int:
        return self.running + self.due


class JobQueue:
    def __init__(self, pool: AsyncConnectionPool, *, backoff: Backoff | None = None) -> None:
        self._pool = pool
        self._backoff = backoff or Backoff()

    async def enqueue(
        self,
        kind: str,
        key: str,
        payload: dict[str, Any] | None = None,
        *,
        max_attempts: int = 5,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> int | None:
        """Queue a job; ``None`` when a live (queued or running) job for ``key`` exists. A key
        under a hold (a batch run has it) returns the hold's id: the request is recorded on it,
        and the job is queued when the holder lets go.

        With ``conn`` the job joins the caller's transaction (and its NOTIFY is sent at commit),
        so a status change and its job are written together or not at all.
        """
        if conn is not None:
            return await self._insert(conn, kind, key, payload, max_attempts)
        async with self._pool.connection() as own:
            return await self._insert(own, kind, key, payload, max_attempts)

    @staticmethod
    async def _insert(
        conn: psycopg.AsyncConnection[Any],
        kind: str,
        key: str,
        payload: dict[str, Any] | None,
        max_attempts: int,
    ) -> int | None:
        cur = await conn.execute(
            "INSERT INTO jobs (kind, key, payload, max_attempts) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (kind, key) WHERE state IN ('queued', 'running') DO UPDATE SET "
            "payload = jobs.payload || '{\"requested\": true}', "
            "max_attempts = EXCLUDED.max_attempts, updated_at = now() "
            f"WHERE jobs.{holds.HOLD} RETURNING id".encode(),
            (kind, key, Jsonb(payload or {}), max_attempts),
        )
        row = await cur.fetchone()
        if row is not None:
            await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, kind))
        return int(row[0]) if row else None

    async def claim(
        self, kinds: list[str], worker: str, *, lease_s: float = 600.0, limit: int = 1
    ) -> list[Job]:
        """Take up to ``limit`` due jobs (or jobs whose lease expired) for ``worker``."""
        async with self._pool.connection() as conn, conn.transaction():
            # A hold whose holder died is let go, never claimed: it is not online work unless
            # someone asked for it meanwhile.
            for let_go in (holds.LET_GO_UNREQUESTED, holds.LET_GO_REQUESTED):
                await conn.execute((let_go + holds.EXPIRED).encode(), (kinds,))
            await conn.execute(
                "UPDATE jobs SET state = 'dead', last_error_code = 'lease_expired', "
                "last_error = 'the worker holding the job stopped answering, too many times', "
                "locked_until = NULL, updated_at = now() "
                "WHERE kind = ANY(%s) AND state = 'running' AND locked_until < now() "
                "AND attempts >= max_attempts",
                (kinds,),
            )
            async with conn.cursor(row_factory=class_row(Job)) as cur:
                await cur.execute(
                    f"""
                    WITH due AS (
                        SELECT id FROM jobs
                        WHERE kind = ANY(%(kinds)s)
                          AND ((state = 'queued' AND run_after <= now())
                               OR (state = 'running' AND locked_until < now()))
                        ORDER BY run_after, id
                        FOR UPDATE SKIP LOCKED
                        LIMIT %(limit)s
                    )
                    UPDATE jobs j SET state = 'running', attempts = j.attempts + 1,
                        locked_by = %(worker)s, updated_at = now(),
                        locked_until = now() + make_interval(secs => %(lease)s)
                    FROM due WHERE j.id = due.id
                    RETURNING {", ".join("j." + c.strip() for c in _COLUMNS.split(","))}
                    """.encode(),
                    {"kinds": kinds, "limit": limit, "worker": worker, "lease": lease_s},
                )
                return await cur.fetchall()

    async def extend(self, job_id: int, worker: str, lease_s: float) -> bool:
        """Renew the lease of a long job; False if it is no longer this worker's."""
        return await self._fenced(
            "UPDATE jobs SET locked_until = now() + make_interval(secs => %s), updated_at = now() "
            "WHERE id = %s AND locked_by = %s AND state = 'running'",
            (lease_s, job_id, worker),
        )

    async def complete(self, job_id: int, worker: str) -> bool:
        """Mark done; False if the lease was lost (another worker has the job now)."""
        return await self._fenced(
            "UPDATE jobs SET state = 'done', finished_at = now(), locked_until = NULL, "
            "updated_at = now() WHERE id = %s AND locked_by = %s AND state = 'running'",
            (job_id, worker),
            outcome="done",
        )

    async def fail(self, job: Job, worker: str, *, code: str, error: str) -> bool:
        """Record a failed attempt: back off and retry, or dead-letter after the last one."""
        if job.attempts >= job.max_attempts:
            return await self._fenced(
                "UPDATE jobs SET state = 'dead', last_error_code = %s, last_error = %s, "
                "locked_until = NULL, updated_at = now() "
                "WHERE id = %s AND locked_by = %s AND state = 'running'",
                (code, error[:2000], job.id, worker),
                outcome="dead",
            )
        delay = self._backoff.delay_s(job.attempts)
        return await self._fenced(
            "UPDATE jobs SET state = 'queued', last_error_code = %s, last_error = %s, "
            "run_after = now() + make_interval(secs => %s), locked_until = NULL, "
            "locked_by = NULL, updated_at = now() "
            "WHERE id = %s AND locked_by = %s AND state = 'running'",
            (code, error[:2000], delay, job.id, worker),
            outcome="retry",
        )

    async def release(self, job_id: int, worker: str) -> bool:
        """Hand a running job back unfinished (its worker is shutting down, e.g. scaled in):
        queued again at once, and the attempt does not count, since nothing failed."""
        ok = await self._fenced(
            "UPDATE jobs SET state = 'queued', attempts = greatest(attempts - 1, 0), "
            "run_after = now(), locked_until = NULL, locked_by = NULL, updated_at = now() "
            "WHERE id = %s AND locked_by = %s AND state = 'running'",
            (job_id, worker),
        )
        if ok:
            async with self._pool.connection() as conn:
                await conn.execute("SELECT pg_notify(%s, 'released')", (CHANNEL,))
        return ok

    async def retry(self, job_id: int) -> bool:
        """Send a dead-lettered job back to the queue with a fresh set of attempts."""
        ok = await self._fenced(
            "UPDATE jobs SET state = 'queued', attempts = 0, run_after = now(), "
            "locked_by = NULL, updated_at = now() WHERE id = %s AND state = 'dead'",
            (job_id,),
        )
        if ok:
            async with self._pool.connection() as conn:
                await conn.execute("SELECT pg_notify(%s, 'retry')", (CHANNEL,))
        return ok

    async def dead(self, kind: str | None = None, *, limit: int = 100) -> list[Job]:
        """Dead-lettered jobs, most recent first."""
        async with self._pool.connection() as conn, conn.cursor(row_factory=class_row(Job)) as cur:
            await cur.execute(
                (
                    f"SELECT {_COLUMNS} FROM jobs WHERE state = 'dead' "
                    "AND (%s::text IS NULL OR kind = %s) ORDER BY updated_at DESC, id DESC LIMIT %s"
                ).encode(),
                (kind, kind, limit),
            )
            return await cur.fetchall()

    async def get(self, job_id: int) -> Job | None:
        async with self._pool.connection() as conn, conn.cursor(row_factory=class_row(Job)) as cur:
            await cur.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = %s".encode(), (job_id,))
            return await cur.fetchone()

    async def depth(self) -> dict[str, int]:
        """Jobs per state (queue depth and dead letters, for metrics)."""
        totals = dict.fromkeys(STATES, 0)
        for (_, state), n in (await self.depth_by_kind()).items():
            totals[state] += n
        return totals

    async def depth_by_kind(self) -> dict[tuple[str, str], int]:
        """Jobs per (kind, state), every state of every kind present (zeros included)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT kind, CASE WHEN state = 'running' AND {holds.HOLD} THEN 'held' "
                "ELSE state END, count(*) FROM jobs GROUP BY 1, 2".encode()
            )
            counts = {(str(k), str(s)): int(n) for k, s, n in await cur.fetchall()}
        kinds = {k for k, _ in counts}
        return {(k, s): counts.get((k, s), 0) for k in sorted(kinds) for s in STATES}

    async def backlog(self, kind: str) -> Backlog:
        """Running, due and backing-off jobs of ``kind`` (what autoscaling reads); held keys are
        a batch run's work, not the workers'."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT count(*) FILTER (WHERE state = 'running' AND NOT {holds.HOLD}), "
                "count(*) FILTER (WHERE state = 'queued' AND run_after <= now()), "
                "count(*) FILTER (WHERE state = 'queued' AND run_after > now()) "
                "FROM jobs WHERE kind = %s AND state IN ('queued', 'running')".encode(),
                (kind,),
            )
            row = await cur.fetchone()
        assert row is not None  # an aggregate always returns one row
        return Backlog(running=int(row[0]), due=int(row[1]), delayed=int(row[2]))

    async def publish_depth(self) -> None:
        """Set the queue gauges (``tmm_jobs``) from the table."""
        for (kind, state), n in (await self.depth_by_kind()).items():
            JOBS.labels(kind, state).set(n)

    async def _fenced(
        self, sql: str, params: tuple[Any, ...], *, outcome: str | None = None
    ) -> bool:
        """Run a fenced update; when it applied, count the attempt's ``outcome`` if given."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(f"{sql} RETURNING kind".encode(), params)
            row = await cur.fetchone()
        if row is not None and outcome is not None:
            JOBS_FINISHED.labels(str(row[0]), outcome).inc()
        return row is not None


async def wait_for_work(conninfo: str, timeout_s: float) -> bool:
    """Block until a job is enqueued (NOTIFY) or ``timeout_s`` passes; True if notified.

    Callers loop: claim, and when nothing is due, wait here — so notifications make workers
    prompt and the timeout makes them poll anyway (backoff expiries send no notification).
    """
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await conn.execute(f"LISTEN {CHANNEL}".encode())
        async for _ in conn.notifies(timeout=timedelta(seconds=timeout_s).total_seconds(),
                                      stop_after=1):  # fmt: skip
            return True
    return False
