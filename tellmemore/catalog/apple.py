"""Podcast discovery through Apple's iTunes Search API.

``/search?media=podcast&term=...`` and ``/lookup?id=...``. Results are cached, calls are kept
under Apple's budget, and Apple's 403 (its answer when throttling) becomes a clear upstream error
with a retry hint instead of an opaque failure.
"""

from __future__ import annotations

import json
import math
from typing import Any

import httpx

from tellmemore.catalog.ttl_cache import CallBudget, TTLCache
from tellmemore.catalog.types import ApplePodcast
from tellmemore.errors import AppleError, ErrorKind
from tellmemore.settings import AppleSettings

MAX_SEARCH_LIMIT = 200  # Apple's own ceiling


def make_apple_http_client(settings: AppleSettings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=str(settings.base_url).rstrip("/"),
        timeout=settings.timeout_s,
        trust_env=False,
        headers={"Accept": "application/json"},
    )


class AppleClient:
    """Search and lookup against the iTunes Search API (or a server speaking its format)."""

    def __init__(self, settings: AppleSettings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http
        self._cache: TTLCache[list[ApplePodcast]] = TTLCache(
            settings.cache_ttl_s, settings.cache_max_entries
        )
        self._budget = CallBudget(settings.calls_per_minute)

    @property
    def cache(self) -> TTLCache[list[ApplePodcast]]:
        return self._cache

    async def search(
        self, term: str, *, limit: int = 20, country: str | None = None
    ) -> list[ApplePodcast]:
        """Podcasts matching ``term``, Apple's relevance order."""
        term = " ".join(term.split())
        if not term:
            raise AppleError("apple_term_empty", "Type something to search for.")
        limit = max(1, min(limit, MAX_SEARCH_LIMIT))
        params = {
            "media": "podcast",
            "entity": "podcast",
            "term": term,
            "limit": str(limit),
            "country": (country or self._settings.country).upper(),
        }
        return await self._get("/search", params)

    async def lookup(self, apple_id: int) -> ApplePodcast | None:
        """One podcast by its Apple id (``collectionId``), or ``None`` if Apple has none."""
        params = {"id": str(apple_id), "entity": "podcast", "country": self._settings.country}
        found = await self._get("/lookup", params)
        return next((p for p in found if p.apple_id == apple_id), None)

    async def _get(self, path: str, params: dict[str, str]) -> list[ApplePodcast]:
        key = path + "?" + "&".join(f"{k}={params[k].lower()}" for k in sorted(params))
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        wait = self._budget.try_acquire()
        if wait > 0:
            raise _throttled(math.ceil(wait), "our own budget of calls to Apple is used up")
        try:
            response = await self._http.get(path, params=params)
        except httpx.TimeoutException as exc:
            raise AppleError(
                "apple_timeout",
                "Apple Podcasts search did not answer in time.",
                ErrorKind.UPSTREAM_FAILED,
            ) from exc
        except httpx.HTTPError as exc:
            raise AppleError(
                "apple_unavailable",
                "Apple Podcasts search could not be reached.",
                ErrorKind.UPSTREAM_FAILED,
            ) from exc
        if response.status_code in (403, 429):
            retry = response.headers.get("Retry-After", "")
            raise _throttled(int(retry) if retry.isdigit() else 60, "Apple is throttling us")
        if response.status_code != 200:
            raise AppleError(
                "apple_unavailable",
                f"Apple Podcasts search answered HTTP {response.status_code}.",
                ErrorKind.UPSTREAM_FAILED,
                details={"upstream_status": response.status_code},
            )
        try:
            payload = json.loads(response.content)
            results = [_podcast(r) for r in payload.get("results", [])]
        except (ValueError, TypeError, AttributeError) as exc:
            raise AppleError(
                "apple_bad_response",
                "Apple Podcasts search sent an answer we cannot read.",
                ErrorKind.UPSTREAM_FAILED,
            ) from exc
        podcasts = [p for p in results if p is not None]
        self._cache.put(key, podcasts)
        return podcasts


def _throttled(retry_after: int, why: str) -> AppleError:
    return AppleError(
        "apple_throttled",
        f"Apple Podcasts search is busy ({why}); try again in about {retry_after} seconds.",
        ErrorKind.UPSTREAM_THROTTLED,
        retry_after_s=retry_after,
    )


def _podcast(raw: dict[str, Any]) -> ApplePodcast | None:
    """One result in Apple's format; other kinds of result (episodes, artists) are skipped."""
    if raw.get("kind") not in (None, "podcast") or not isinstance(raw.get("collectionId"), int):
        return None
    genres = raw.get("genres") or []
    count = raw.get("trackCount")
    artwork = raw.get("artworkUrl600") or raw.get("artworkUrl100") or raw.get("artworkUrl60")
    return ApplePodcast(
        apple_id=raw["collectionId"],
        title=str(raw.get("collectionName") or raw.get("trackName") or "").strip() or "Untitled",
        author=raw.get("artistName") or None,
        feed_url=(raw.get("feedUrl") or "").strip() or None,
        artwork_url=artwork or None,
        genres=tuple(str(g) for g in genres if g and g != "Podcasts"),
        episode_count=count if isinstance(count, int) else None,
        store_url=raw.get("collectionViewUrl") or None,
        release_date=raw.get("releaseDate") or None,
    )
