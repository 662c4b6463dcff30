"""Rate limiting in Redis, shared by every API process.

A sliding-window log in one Lua script: each subject has a sorted set of the times of its
allowed requests in the last window; a request is allowed while fewer than ``limit`` remain.
That is exactly "at most N requests in any 60 seconds" (fixed windows allow 2N across a window
edge, token buckets a burst plus a refill), refused requests do not count, and Redis's own clock
is used so API servers with skewed clocks agree. Memory is O(limit) per active subject.

When Redis is unreachable the caller decides: reads fail open, writes fail closed (see
``api.middleware``), and the error is logged.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from uuid import UUID

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tellmemore.settings import RedisSettings

_SLIDING_LOG = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return {0, 0, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', key, now, now .. '-' .. ARGV[3])
redis.call('PEXPIRE', key, math.ceil(window / 1000))
return {1, limit - count - 1, 0}
"""


# A counter that grows by n only while it stays within the limit (quotas); returns whether it
# did and what is left.
_COUNTER = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local n = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
if current + n > limit then return {0, limit - current} end
redis.call('INCRBY', KEYS[1], n)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return {1, limit - current - n}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: float


class LimiterUnavailable(RuntimeError):
    """Redis could not be asked."""


class RateLimiter:
    """Per-subject limits over a shared Redis."""

    def __init__(self, redis: aioredis.Redis, settings: RedisSettings) -> None:
        self._redis = redis
        self._prefix = settings.key_prefix + "rl:"
        self._script = redis.register_script(_SLIDING_LOG)
        self._counter = redis.register_script(_COUNTER)

    def key(self, bucket: str, subject: str) -> str:
        return f"{self._prefix}{bucket}:{subject}"

    async def hit(self, bucket: str, subject: str, limit: int, window_s: float = 60.0) -> Decision:
        """Count one request of ``subject`` against ``limit`` per ``window_s``."""
        try:
            allowed, remaining, wait_us = await self._script(
                keys=[self.key(bucket, subject)],
                args=[limit, int(window_s * 1_000_000), secrets.token_hex(4)],
            )
        except (RedisError, OSError) as exc:
            raise LimiterUnavailable(str(exc)) from exc
        return Decision(bool(allowed), limit, int(remaining), int(wait_us) / 1_000_000)

    async def take(
        self, bucket: str, subject: str, n: int, limit: int, ttl_s: int
    ) -> tuple[bool, int]:
        """Add ``n`` to a counter if it stays within ``limit``: (taken, what is left)."""
        try:
            taken, left = await self._counter(
                keys=[self.key(bucket, subject)], args=[n, limit, ttl_s]
            )
        except (RedisError, OSError) as exc:
            raise LimiterUnavailable(str(exc)) from exc
        return bool(taken), max(int(left), 0)

    async def forget_user(self, user_id: UUID) -> int:
        """Delete every counter keyed by this user (account deletion)."""
        deleted = 0
        try:
            async for key in self._redis.scan_iter(match=f"{self._prefix}*:user:{user_id}"):
                deleted += int(await self._redis.delete(key))
        except (RedisError, OSError) as exc:
            raise LimiterUnavailable(str(exc)) from exc
        return deleted
