"""Identical concurrent searches computed once ("single flight").

When a query goes viral, or a page is reloaded by many listeners at once, every request misses
the cache together and each computed the same answer: 200 users on one cold query made 200
engine runs and 19% of them timed out (issue 21). Here the first caller starts the computation
and later callers with the same key wait for it; everyone gets the one result (or its error).

The key is the cache's: the normalised query, mode, limit and filters, and the filters include
the private podcasts hidden from the viewer, so two viewers share a computation only when they
may see the same passages. The computation runs as its own task, shielded: a caller that gives
up (a closed connection) does not cancel it for the others, and it still fills the cache. Per
process: replicas do not wait on each other (the Redis cache is what they share).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tellmemore.search import timing

T = TypeVar("T")


class SingleFlight:
    def __init__(self) -> None:
        self._running: dict[str, asyncio.Task[Any]] = {}

    def in_flight(self) -> int:
        return len(self._running)

    async def run(self, key: str, compute: Callable[[], Awaitable[T]]) -> T:
        """``compute()``'s result, shared with every concurrent caller of the same ``key``."""
        loop = asyncio.get_running_loop()
        task = self._running.get(key)
        if task is None or task.get_loop() is not loop:
            task = loop.create_task(_run(compute))  # copies the context: the leader's timings
            self._running[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        else:
            timing.record("coalesced", 0.0)
        result: T = await asyncio.shield(task)
        return result

    def _forget(self, key: str, done: asyncio.Task[Any]) -> None:
        if self._running.get(key) is done:
            del self._running[key]
        if not done.cancelled():
            done.exception()  # retrieved: its callers got it, no "never retrieved" warning


async def _run(compute: Callable[[], Awaitable[T]]) -> T:
    return await compute()
