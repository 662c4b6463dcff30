"""What follows a processed episode, and what runs on a timer, in the processor.

After each episode: the search cache is invalidated (its answers may now be incomplete), topic
playlists catch up on the new episode, and due digests go out. On a timer (one replica at a
time, elected with a PostgreSQL advisory lock so two replicas never compact one table at once):
index maintenance on the search tables, then the same catch-up; also ``maintenance_settle_s``
after the replica's last stored episode, so fresh episodes are not searched as unindexed
fragments until the next interval.

Nothing here may fail an episode: errors are logged and the next run catches up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from tellmemore.index import IndexReport, maintain
from tellmemore.notify import Digests, EmailSender
from tellmemore.playlists import TopicPlaylists
from tellmemore.settings import Settings
from tellmemore.storage import ResultCache

log = logging.getLogger(__name__)

# Any constant shared by all replicas; "tmm-upkeep" in ASCII.
_LOCK_KEY = 0x746D6D2D75706B


class Upkeep:
    def __init__(
        self,
        settings: Settings,
        pool: AsyncConnectionPool,
        caches: list[ResultCache],
        topics: TopicPlaylists,
        digests: Digests,
        sender: EmailSender,
        tables: Callable[[], Awaitable[list[tuple[Any, str]]]],
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._caches = caches  # search answers and catalog reads
        self._topics = topics
        self._digests = digests
        self._sender = sender
        self._tables = tables  # the active index's (Lance table, its text column) pairs
        self._stop = asyncio.Event()
        self._last_write: float | None = None  # time.monotonic() of the last stored episode

    async def episode_done(self, episode_id: UUID) -> None:
        self._last_write = time.monotonic()
        try:
            for cache in self._caches:
                await cache.invalidate()
            await self.catch_up()
        except Exception:
            log.exception("upkeep after episode %s failed; the timer will catch up", episode_id)

    async def catch_up(self) -> None:
        refreshed = await self._topics.refresh_all()
        if refreshed.playlists:
            log.info("topic playlists refreshed: %s", refreshed)
        if self._settings.email.backend != "disabled":
            interval = timedelta(seconds=self._settings.email.digest_interval_s)
            digests = await self._digests.send(
                self._sender, self._settings.email, min_interval=interval
            )
            if digests.sent or digests.failed:
                log.info("digests: %s", digests)

    async def maintain_indexes(self) -> list[IndexReport]:
        """Index maintenance on every search table, if no other replica is doing it."""
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_KEY,))
            row = await cur.fetchone()
            if not row or not row[0]:
                return []
            try:
                reports = []
                for table, column in await self._tables():
                    reports.append(
                        await asyncio.to_thread(
                            maintain, table, self._settings.search, text_column=column
                        )
                    )
                await self._caches[0].invalidate()  # a rebuilt index can reorder results
                return reports
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))

    async def run(self) -> None:
        """Every ``search.maintenance_interval_s``, and once episodes stored here have settled
        for ``search.maintenance_settle_s``, until :meth:`stop`."""
        interval = self._settings.search.maintenance_interval_s
        settle = self._settings.search.maintenance_settle_s
        due = time.monotonic() + interval
        while not self._stop.is_set():
            wait = min(settle, max(due - time.monotonic(), 0.0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), wait)
            if self._stop.is_set():
                break
            now = time.monotonic()
            written = self._last_write is not None and now - self._last_write >= settle
            if now < due and not written:
                continue
            self._last_write = None
            due = now + interval
            try:
                await self.maintain_indexes()
                await self.catch_up()
            except Exception:
                log.exception("periodic upkeep failed; retrying next interval")

    def stop(self) -> None:
        self._stop.set()
