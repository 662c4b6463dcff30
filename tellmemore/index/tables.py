"""Which search index a writer writes to, and its table pair, opened once per process.

The online processor writes every episode into the *active* index (readers search it), in that
index's embedding space. On a fresh system nothing is active yet: the first writer registers
its own space's index and makes it active. A re-embedding backfill writes a *building* index
through :meth:`SearchTables.store` directly and flips ``active`` when it is complete.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import lancedb
from psycopg_pool import AsyncConnectionPool

from models.settings import EmbedderSettings
from tellmemore.index import registry
from tellmemore.index.segments import SegmentStore
from tellmemore.index.spaces import ActiveIndex, SearchIndex


class SearchTables:
    def __init__(
        self,
        db: lancedb.DBConnection,
        pool: AsyncConnectionPool,
        own_space: EmbedderSettings,
        *,
        ttl_s: float,
    ) -> None:
        self._db = db
        self._pool = pool
        self.active = ActiveIndex(self._lookup, own_space, ttl_s=ttl_s)
        self._stores: dict[str, SegmentStore] = {}
        self._claimed: set[str] = set()
        self._lock = threading.Lock()

    async def _lookup(self) -> SearchIndex | None:
        async with self._pool.connection() as conn:
            return await registry.active(conn)

    def store(self, index: SearchIndex, dimension: int) -> SegmentStore:
        """The index's tables (created if missing); blocking, so call it in a thread."""
        with self._lock:
            store = self._stores.get(index.name)
            if store is None or store.dimension != dimension:
                store = SegmentStore(
                    self._db,
                    dimension,
                    segments_table=index.segments_table,
                    summaries_table=index.summaries_table,
                )
                self._stores[index.name] = store
            return store

    async def store_for_write(
        self, index: SearchIndex, dimension: int, embedding_model: str
    ) -> SegmentStore:
        """The store an online write goes to; the first write on a fresh system also records
        the index as the active one."""
        if index.name not in self._claimed:
            async with self._pool.connection() as conn:
                await registry.claim_if_none_active(conn, index, embedding_model)
            self._claimed.add(index.name)
        return await asyncio.to_thread(self.store, index, dimension)

    async def active_tables(self) -> list[tuple[Any, str]]:
        """The active index's tables with their full-text column (for index maintenance);
        empty while nothing has been written."""
        index = await self.active.current()
        with self._lock:
            store = self._stores.get(index.name)
        if store is None:
            names = await asyncio.to_thread(self._db.table_names)
            if index.segments_table not in names:
                return []
            table = await asyncio.to_thread(self._db.open_table, index.segments_table)
            dimension = table.schema.field("vector").type.list_size
            store = await asyncio.to_thread(self.store, index, dimension)
        return store.tables()
