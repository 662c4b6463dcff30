"""Fetching feeds over HTTP politely and defensively.

Conditional GET (ETag / Last-Modified) so unchanged feeds cost one small round trip; a byte
limit on the decoded body (which also stops gzip bombs); a wall-clock limit on the whole fetch;
redirects followed by hand so every hop passes the host policy and permanent moves are noticed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from tellmemore.catalog.feeds.urls import check_host_allowed, parse_http_url
from tellmemore.errors import ErrorKind, FeedError
from tellmemore.settings import FeedSettings

_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
_PERMANENT = frozenset({301, 308})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class FetchResult:
    """One fetch: either a body, or ``not_modified`` when the validators matched."""

    requested_url: str
    final_url: str
    # Set when every redirect hop was permanent: the publisher moved the feed for good.
    moved_to: str | None
    not_modified: bool
    body: bytes
    content_type: str | None
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True)
class Validators:
    """What the last successful fetch told us, for a conditional GET."""

    etag: str | None = None
    last_modified: str | None = None


def make_http_client(settings: FeedSettings) -> httpx.AsyncClient:
    """The shared client for feed traffic; redirects are ours to follow."""
    timeout = httpx.Timeout(
        connect=settings.connect_timeout_s,
        read=settings.read_timeout_s,
        write=settings.read_timeout_s,
        pool=settings.connect_timeout_s,
    )
    return httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": settings.user_agent},
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
    )


class FeedFetcher:
    """Fetches one URL at a time under the feed settings."""

    def __init__(self, settings: FeedSettings, client: httpx.AsyncClient) -> None:
        self._settings = settings
        self._client = client

    async def fetch(self, url: str, validators: Validators | None = None) -> FetchResult:
        """Fetch ``url`` (conditionally when ``validators`` are given)."""
        try:
            async with asyncio.timeout(self._settings.total_timeout_s):
                return await self._fetch(url, validators or Validators())
        except TimeoutError as exc:
            raise FeedError(
                "feed_timeout",
                f"The feed did not arrive within {self._settings.total_timeout_s:g} seconds.",
                details={"url": url},
            ) from exc

    async def _fetch(self, url: str, validators: Validators) -> FetchResult:
        current = url
        all_permanent = True
        for _hop in range(self._settings.max_redirects + 1):
            parts = parse_http_url(current)
            await check_host_allowed(parts, allow_private=self._settings.allow_private_hosts)
            headers = {"Accept": _ACCEPT}
            if validators.etag:
                headers["If-None-Match"] = validators.etag
            if validators.last_modified:
                headers["If-Modified-Since"] = validators.last_modified
            try:
                async with self._client.stream("GET", current, headers=headers) as response:
                    if response.status_code in _REDIRECTS:
                        location = response.headers.get("Location")
                        if not location:
                            raise _http_error(response.status_code, current)
                        all_permanent = all_permanent and response.status_code in _PERMANENT
                        current = urljoin(current, location)
                        continue
                    if response.status_code == 304:
                        return self._result(url, current, all_permanent, response, b"", True)
                    if response.status_code != 200:
                        raise _http_error(response.status_code, current)
                    body = await self._read_limited(response, current)
                    return self._result(url, current, all_permanent, response, body, False)
            except httpx.TimeoutException as exc:
                raise FeedError(
                    "feed_timeout",
                    "The feed server stopped answering before the feed arrived.",
                    details={"url": current},
                ) from exc
            except httpx.HTTPError as exc:
                raise FeedError(
                    "feed_unreachable",
                    f"The feed server could not be reached: {type(exc).__name__}.",
                    details={"url": current},
                ) from exc
        raise FeedError(
            "feed_too_many_redirects",
            f"The feed redirected more than {self._settings.max_redirects} times.",
            details={"url": url},
        )

    async def _read_limited(self, response: httpx.Response, url: str) -> bytes:
        limit = self._settings.max_bytes
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise _too_large(limit, url)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit, url)
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _result(
        requested: str,
        final: str,
        all_permanent: bool,
        response: httpx.Response,
        body: bytes,
        not_modified: bool,
    ) -> FetchResult:
        moved = final if (final != requested and all_permanent) else None
        return FetchResult(
            requested_url=requested,
            final_url=final,
            moved_to=moved,
            not_modified=not_modified,
            body=body,
            content_type=response.headers.get("Content-Type"),
            etag=response.headers.get("ETag"),
            last_modified=response.headers.get("Last-Modified"),
        )


def _too_large(limit: int, url: str) -> FeedError:
    return FeedError(
        "feed_too_large",
        f"The feed is larger than the {limit // 2**20} MiB this server accepts.",
        details={"url": url, "limit_bytes": limit},
    )


def _http_error(status: int, url: str) -> FeedError:
    if status in (404, 410):
        return FeedError(
            "feed_not_found",
            f"The feed URL answered {status}: there is no feed there (any more).",
            details={"url": url, "upstream_status": status},
        )
    if status in (401, 403):
        return FeedError(
            "feed_forbidden",
            f"The feed server refused access ({status}); private feeds need their own URL.",
            details={"url": url, "upstream_status": status},
        )
    if status == 429:
        return FeedError(
            "feed_rate_limited",
            "The feed server asked us to slow down (429); try again later.",
            ErrorKind.INVALID,
            details={"url": url, "upstream_status": status},
        )
    return FeedError(
        "feed_http_error",
        f"The feed server answered with HTTP {status} instead of a feed.",
        details={"url": url, "upstream_status": status},
    )
