"""A small in-process TTL cache and a sliding-window call budget.

Both guard the iTunes Search API, which allows about 20 calls a minute. They live in the
process for now; the Redis-backed versions shared across API replicas arrive with the security
layer, behind the same methods.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class TTLCache(Generic[V]):
    """Least-recently-used entries expire after ``ttl_s`` seconds or when space runs out."""

    def __init__(
        self, ttl_s: float, max_entries: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl_s
        self._max = max_entries
        self._clock = clock
        self._data: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> V | None:
        entry = self._data.get(key)
        if entry is None or entry[0] <= self._clock():
            if entry is not None:
                del self._data[key]
            self.misses += 1
            return None
        self._data.move_to_end(key)
        self.hits += 1
        return entry[1]

    def put(self, key: str, value: V) -> None:
        if self._ttl <= 0:
            return
        self._data[key] = (self._clock() + self._ttl, value)
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)


class CallBudget:
    """At most ``calls`` calls in any ``window_s`` seconds."""

    def __init__(
        self, calls: int, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._calls = calls
        self._window = window_s
        self._clock = clock
        self._stamps: deque[float] = deque()

    def try_acquire(self) -> float:
        """Take one call; return 0, or the seconds until one is free (nothing taken)."""
        now = self._clock()
        while self._stamps and self._stamps[0] <= now - self._window:
            self._stamps.popleft()
        if len(self._stamps) >= self._calls:
            return self._stamps[0] + self._window - now
        self._stamps.append(now)
        return 0.0
