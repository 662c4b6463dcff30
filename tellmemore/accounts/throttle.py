"""Per-account login throttling: exponential backoff after repeated failures, in Redis.

The per-IP limit stops one address from guessing fast; it does nothing against guesses for one
account spread over many addresses (a botnet), and behind a shared proxy it punishes everyone.
So each email address also has a failure count: the first ``auth.login_free_failures`` cost
nothing, then every further failure locks that address for twice as long as the last (from
``auth.login_backoff_s``, at most ``auth.login_backoff_max_s``). A locked address is refused
before the password is checked, so the lock is no oracle; it is keyed by the address whether or
not an account exists, so it reveals none either. A successful login clears it.

Keys hold a hash of the normalised address, never the address itself.
"""

from __future__ import annotations

import hashlib

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tellmemore.accounts.ratelimit import LimiterUnavailable
from tellmemore.settings import AuthSettings, RedisSettings

# KEYS: failures, lock. ARGV: free failures, base ms, max ms, failure memory ms.
_FAILED = """
local failures = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
local free = tonumber(ARGV[1])
if failures <= free then return 0 end
local lock = math.min(tonumber(ARGV[2]) * 2 ^ (failures - free - 1), tonumber(ARGV[3]))
redis.call('SET', KEYS[2], '1', 'PX', math.floor(lock))
return math.floor(lock)
"""


class LoginThrottle:
    def __init__(
        self, redis: aioredis.Redis, redis_settings: RedisSettings, auth: AuthSettings
    ) -> None:
        self._redis = redis
        self._prefix = redis_settings.key_prefix + "login:"
        self._auth = auth
        self._failed = redis.register_script(_FAILED)

    def _keys(self, email: str) -> list[str]:
        subject = hashlib.sha256(email.strip().casefold().encode()).hexdigest()[:32]
        return [f"{self._prefix}failures:{subject}", f"{self._prefix}lock:{subject}"]

    async def locked_for(self, email: str) -> float:
        """Seconds until ``email`` may try again (0: now)."""
        try:
            remaining_ms = int(await self._redis.pttl(self._keys(email)[1]))
        except (RedisError, OSError) as exc:
            raise LimiterUnavailable(str(exc)) from exc
        return max(remaining_ms, 0) / 1000

    async def failed(self, email: str) -> float:
        """Record a failed login; returns the lock it started (seconds, 0 for none)."""
        auth = self._auth
        try:
            lock_ms = await self._failed(
                keys=self._keys(email),
                args=[auth.login_free_failures, int(auth.login_backoff_s * 1000),
                      int(auth.login_backoff_max_s * 1000),
                      int(auth.login_failure_memory_s * 1000)],
            )  # fmt: skip
        except (RedisError, OSError) as exc:
            raise LimiterUnavailable(str(exc)) from exc
        return int(lock_ms) / 1000

    async def succeeded(self, email: str) -> None:
        try:
            await self._redis.delete(*self._keys(email))
        except (RedisError, OSError) as exc:
            raise LimiterUnavailable(str(exc)) from exc
