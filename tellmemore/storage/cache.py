"""A Redis read-through cache with generation-based invalidation.

Entries are JSON under ``<prefix>cache:<name>:<sha256 of the request>`` with a TTL. Invalidation
does not scan for keys: each cache has a generation counter, stored entries remember the
generation they were computed in, and bumping the counter (when new segments land, when the
catalog changes) makes every older entry a miss, to expire on its own. One ``MGET`` reads the
counter and the entry together, so a hit costs one round trip.

Redis being down never fails a request: the cache is skipped and the miss counted.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tellmemore.metrics import CACHE_INVALIDATIONS, CACHE_REQUESTS

log = logging.getLogger(__name__)

T = TypeVar("T")


class ResultCache:
    def __init__(
        self, redis: aioredis.Redis, name: str, *, ttl_s: float, key_prefix: str = "tmm:"
    ) -> None:
        self._redis = redis
        self.name = name
        self._ttl_ms = int(ttl_s * 1000)
        self._prefix = f"{key_prefix}cache:{name}:"
        self._generation_key = self._prefix + "generation"

    def key(self, request: Any) -> str:
        """A stable key for a JSON-serialisable request description."""
        canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
        return self._prefix + hashlib.sha256(canonical.encode()).hexdigest()

    async def get_or_compute(
        self,
        request: Any,
        compute: Callable[[], Awaitable[T]],
        *,
        encode: Callable[[T], Any],
        decode: Callable[[Any], T],
    ) -> T:
        """The cached answer for ``request``, else ``compute()``'s, stored for next time."""
        if self._ttl_ms <= 0:
            return await compute()
        key = self.key(request)
        generation = 0
        try:
            raw_generation, raw_entry = await self._redis.mget(self._generation_key, key)
            generation = int(raw_generation or 0)
            if raw_entry is not None:
                entry = json.loads(raw_entry)
                if entry.get("generation") == generation:
                    CACHE_REQUESTS.labels(self.name, "hit").inc()
                    return decode(entry["value"])
        except (RedisError, OSError, ValueError) as exc:
            log.warning("cache %s unavailable, computing: %s", self.name, exc)
            CACHE_REQUESTS.labels(self.name, "miss").inc()
            return await compute()
        CACHE_REQUESTS.labels(self.name, "miss").inc()
        value = await compute()
        payload = json.dumps({"generation": generation, "value": encode(value)}, default=str)
        try:
            await self._redis.set(key, payload, px=self._ttl_ms)
        except (RedisError, OSError) as exc:
            log.warning("cache %s could not store: %s", self.name, exc)
        return value

    async def invalidate(self) -> int:
        """Drop every entry (by moving to a new generation); returns the new generation."""
        generation = int(await self._redis.incr(self._generation_key))
        CACHE_INVALIDATIONS.labels(self.name).inc()
        return generation
