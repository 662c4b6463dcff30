"""The psycopg 3 connection pool every request and command draws from."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from tellmemore.settings import DatabaseSettings
from tellmemore.storage.timing import TimedAsyncCursor


def make_pool(settings: DatabaseSettings, *, name: str = "tellmemore") -> AsyncConnectionPool:
    """A pool that is not yet open: the caller opens it (``await pool.open()``) so that an app
    can start, and report itself not ready, while the database is still coming up."""
    options = f"-c statement_timeout={settings.statement_timeout_ms}"
    return AsyncConnectionPool(
        conninfo=settings.url,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        open=False,
        name=name,
        timeout=settings.connect_timeout_s,
        kwargs={
            "connect_timeout": max(1, int(settings.connect_timeout_s)),
            "options": options,
            "application_name": name,
            "cursor_factory": TimedAsyncCursor,
        },
        check=AsyncConnectionPool.check_connection,
    )
