"""Search as the API uses it: the engine behind the Redis cache, timed.

Hits are cached without their vectors (those are for re-ranking callers, which bypass the
cache). The ``search`` cache is invalidated when an episode's passages land or change.
Identical concurrent requests share one lookup and computation (``coalesce.py``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any, TypeVar

from tellmemore.metrics import SEARCH_SECONDS
from tellmemore.search import timing
from tellmemore.search.coalesce import SingleFlight
from tellmemore.search.engine import SearchEngine
from tellmemore.search.types import (
    NO_FILTERS,
    EpisodeHit,
    Highlight,
    SearchFilters,
    SearchMode,
    SegmentHit,
)
from tellmemore.storage import ResultCache

SEARCH_CACHE = "search"
CATALOG_CACHE = "catalog"
T = TypeVar("T")


class SearchService:
    def __init__(self, engine: SearchEngine, cache: ResultCache) -> None:
        self.engine = engine
        self.cache = cache
        self._flights = SingleFlight()

    async def _cached(
        self,
        request: dict[str, Any],
        compute: Callable[[], Awaitable[T]],
        encode: Callable[[T], Any],
        decode: Callable[[Any], T],
    ) -> T:
        """The cached answer, else one computation shared by every identical request now."""

        def lookup() -> Awaitable[T]:
            return self.cache.get_or_compute(request, compute, encode=encode, decode=decode)

        with timing.stage("search"):
            return await self._flights.run(self.cache.key(request), lookup)

    async def segments(
        self,
        query: str,
        *,
        filters: SearchFilters = NO_FILTERS,
        mode: SearchMode = SearchMode.HYBRID,
        limit: int | None = None,
    ) -> list[SegmentHit]:
        text = self.engine.clean_query(query)
        size = self.engine.clean_limit(limit)

        async def compute() -> list[SegmentHit]:
            started = time.perf_counter()
            hits = await self.engine.search_segments(text, filters=filters, mode=mode, limit=size)
            SEARCH_SECONDS.labels("segments", mode.value).observe(time.perf_counter() - started)
            return hits

        request = {"kind": "segments", "q": text.lower(), "mode": mode.value, "limit": size,
                   "filters": asdict(filters)}  # fmt: skip
        return await self._cached(
            request, compute, lambda hits: [_encode(h) for h in hits],
            lambda rows: [_segment(r) for r in rows],
        )  # fmt: skip

    async def episodes(
        self,
        query: str,
        *,
        filters: SearchFilters = NO_FILTERS,
        mode: SearchMode = SearchMode.HYBRID,
        limit: int | None = None,
    ) -> list[EpisodeHit]:
        text = self.engine.clean_query(query)
        size = self.engine.clean_limit(limit)

        async def compute() -> list[EpisodeHit]:
            started = time.perf_counter()
            hits = await self.engine.search_episodes(text, filters=filters, mode=mode, limit=size)
            SEARCH_SECONDS.labels("episodes", mode.value).observe(time.perf_counter() - started)
            return hits

        request = {"kind": "episodes", "q": text.lower(), "mode": mode.value, "limit": size,
                   "filters": asdict(filters)}  # fmt: skip
        return await self._cached(
            request, compute, lambda hits: [_encode(h) for h in hits],
            lambda rows: [_episode(r) for r in rows],
        )  # fmt: skip

    async def more_like(
        self, segment_id: str, *, filters: SearchFilters = NO_FILTERS, limit: int | None = None
    ) -> list[SegmentHit]:
        size = self.engine.clean_limit(limit)

        async def compute() -> list[SegmentHit]:
            return await self.engine.more_like_segment(segment_id, filters=filters, limit=size)

        request = {"kind": "more_like", "segment": segment_id, "limit": size,
                   "filters": asdict(filters)}  # fmt: skip
        return await self._cached(
            request, compute, lambda hits: [_encode(h) for h in hits],
            lambda rows: [_segment(r) for r in rows],
        )  # fmt: skip

    async def invalidate(self) -> None:
        """New or changed passages: every cached answer may be stale."""
        await self.cache.invalidate()


def _encode(hit: SegmentHit | EpisodeHit) -> dict[str, Any]:
    row = asdict(hit)
    row.pop("vector", None)
    if row.get("published_at") is not None:
        row["published_at"] = row["published_at"].isoformat()
    return row


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _segment(row: dict[str, Any]) -> SegmentHit:
    known = {f.name for f in fields(SegmentHit)}
    data = {k: v for k, v in row.items() if k in known}
    data["published_at"] = _time(data.get("published_at"))
    mark = data.get("highlight")
    if mark is not None:
        data["highlight"] = Highlight(
            mark["snippet"], tuple(tuple(m) for m in mark["marks"]), mark["offset_s"]
        )
    return SegmentHit(**data)


def _episode(row: dict[str, Any]) -> EpisodeHit:
    data = dict(row)
    data["published_at"] = _time(data.get("published_at"))
    data["topics"] = tuple(data.get("topics") or ())
    return EpisodeHit(**data)
