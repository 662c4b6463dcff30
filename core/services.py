"""Building the long-lived clients once per process: pool, HTTP clients, catalog.

The API's lifespan and every CLI command open the same :class:`Services` from one
:class:`~core.settings.Settings`, so they can never be wired differently.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

from core.apple import AppleClient, make_apple_http_client
from core.catalog import Catalog
from core.db.pool import make_pool
from core.feeds.fetch import FeedFetcher, make_http_client
from core.settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    pool: AsyncConnectionPool
    apple: AppleClient
    catalog: Catalog


@asynccontextmanager
async def open_services(
    settings: Settings, *, wait_for_db: bool = False
) -> AsyncIterator[Services]:
    """Open everything; with ``wait_for_db`` fail fast if PostgreSQL is not there (CLI), else
    start anyway and let ``/ready`` say so (servers)."""
    pool = make_pool(settings.database)
    await pool.open(wait=wait_for_db, timeout=settings.database.connect_timeout_s)
    try:
        async with (
            make_http_client(settings.feeds) as feed_http,
            make_apple_http_client(settings.apple) as apple_http,
        ):
            apple = AppleClient(settings.apple, apple_http)
            catalog = Catalog(settings, pool, FeedFetcher(settings.feeds, feed_http), apple)
            yield Services(settings, pool, apple, catalog)
    finally:
        await pool.close()
