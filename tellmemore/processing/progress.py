"""How far a running episode's current step is, for the episode's status (``GET /episodes/{id}``).

The count lives on the episode row (``processing_progress``), next to ``processing_step``: the
status read is the episode read it already was (one query, behind the same visibility check
for private podcasts), and every step change or outcome clears it in the statement that records
it, so a count never outlives its step (nor needs a TTL, as a Redis key would). A step counts
in memory as it goes (``add``: no I/O, callable from any thread); a flusher writes the figure
at most once per ``interval_s`` while it changes, and once at the end: a few small updates a
second at most, whatever the number of chunks.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from types import TracebackType
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from tellmemore.processing import rows

log = logging.getLogger(__name__)


class StepProgress:
    """``done`` of ``total`` ``unit`` for one episode's step; ``total`` None when not known."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        episode_id: UUID,
        step: str,
        *,
        total: float | None,
        unit: str,
        interval_s: float = 1.0,
    ) -> None:
        self._pool = pool
        self._episode_id = episode_id
        self.step = step
        self.total = None if total is None else round(total)
        self.unit = unit
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._done = 0.0
        self._written: tuple[int, int | None] | None = None
        self._flusher: asyncio.Task[None] | None = None

    @property
    def done(self) -> int:
        with self._lock:
            done, total = round(self._done), self.total
        # Chunk lengths can add up to a little more than the container says.
        return done if total is None else min(done, total)

    def add(self, amount: float = 1.0) -> None:
        with self._lock:
            self._done += amount

    def expect(self, total: float) -> None:
        """The step's size, once known (or grown: a summary's reduce round adds requests)."""
        with self._lock:
            self.total = round(total)

    async def flush(self) -> None:
        """Write the figures now if they changed since the last write (never raises: a missed
        progress figure must not fail the episode)."""
        done, total = self.done, self.total
        if (done, total) == self._written:
            return
        try:
            async with self._pool.connection() as conn:
                await rows.progress(conn, self._episode_id, self.step,
                                    done=done, total=total, unit=self.unit)  # fmt: skip
            self._written = (done, total)
        except Exception:
            log.warning("could not record the step's progress", exc_info=True,
                        extra={"episode_id": str(self._episode_id), "step": self.step})  # fmt: skip

    async def _flush_every_interval(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.flush()

    async def __aenter__(self) -> StepProgress:
        self._written = None
        await self.flush()  # 0 of N at once: the step's size is news too
        self._flusher = asyncio.create_task(self._flush_every_interval())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            # gather, not ``await`` under suppress: a cancellation of the step itself goes on.
            await asyncio.gather(self._flusher, return_exceptions=True)
        if exc_type is None:
            await self.flush()
