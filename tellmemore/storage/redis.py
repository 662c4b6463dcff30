"""The Redis client every process shares (rate limits, result caches, token revocation)."""

from __future__ import annotations

import redis.asyncio as aioredis

from tellmemore.settings import RedisSettings


def make_redis(settings: RedisSettings) -> aioredis.Redis:
    """A client whose pool makes a burst of requests wait briefly for a connection instead of
    failing (a failing limiter would let that very burst through)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.url,
        max_connections=settings.max_connections,
        timeout=settings.socket_timeout_s * 4,
        socket_timeout=settings.socket_timeout_s,
        socket_connect_timeout=settings.socket_timeout_s,
        health_check_interval=30,
    )
    return aioredis.Redis(connection_pool=pool)
