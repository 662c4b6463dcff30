"""Fetching feeds over HTTP politely and defensively.

Conditional GET (ETag / Last-Modified) so unchanged feeds cost one small round trip; a byte
limit on the decoded body (which also stops gzip bombs); a wall-clock limit on the whole fetch;
redirects followed by hand so every hop passes the host policy, connects to the very address
that was checked, and permanent moves are noticed (all of that in
:mod:`tellmemore.catalog.feeds.outbound`, which enclosure downloads share).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import httpx

from tellmemore.catalog.feeds.addresses import AddressPolicy
from tellmemore.catalog.feeds.outbound import Outbound, OutboundError, Reply, make_client
from tellmemore.errors import ErrorKind, FeedError
from tellmemore.settings import FeedSettings

_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


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


def make_http_client(
    settings: FeedSettings, *, verify: ssl.SSLContext | bool = True
) -> httpx.AsyncClient:
    """The shared client for feed traffic; redirects are ours to follow. ``verify`` is for
    tests that trust their own certificate authority."""
    return make_client(
        connect_timeout_s=settings.connect_timeout_s,
        read_timeout_s=settings.read_timeout_s,
        user_agent=settings.user_agent,
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
        verify=verify,
    )


class FeedFetcher:
    """Fetches one URL at a time under the feed settings.

    ``addresses`` replaces the host policy made from the settings (a test's resolver)."""

    def __init__(
        self,
        settings: FeedSettings,
        client: httpx.AsyncClient,
        *,
        addresses: AddressPolicy | None = None,
    ) -> None:
        self._settings = settings
        policy = addresses or AddressPolicy(
            allow_private=settings.allow_private_hosts,
            resolve_timeout_s=settings.connect_timeout_s,
        )
        self._outbound = Outbound(
            client,
            policy,
            max_redirects=settings.max_redirects,
            total_timeout_s=settings.total_timeout_s,
        )

    async def fetch(self, url: str, validators: Validators | None = None) -> FetchResult:
        """Fetch ``url`` (conditionally when ``validators`` are given)."""
        validators = validators or Validators()
        headers = {"Accept": _ACCEPT}
        if validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        try:
            async with self._outbound.open(url, headers) as reply:
                status = reply.response.status_code
                if status == 304:
                    return _result(url, reply, b"", not_modified=True)
                if status != 200:
                    raise _http_error(status, reply.url)
                body = b"".join([c async for c in reply.chunks(self._settings.max_bytes)])
                return _result(url, reply, body, not_modified=False)
        except OutboundError as exc:
            raise self._failed(exc, url) from exc

    def _failed(self, exc: OutboundError, url: str) -> FeedError:
        if exc.reason == "timeout":
            return FeedError(
                "feed_timeout",
                f"The feed did not arrive within {self._settings.total_timeout_s:g} seconds.",
                details={"url": url},
            )
        if exc.reason == "stalled":
            return FeedError(
                "feed_timeout",
                "The feed server stopped answering before the feed arrived.",
                details={"url": exc.url},
            )
        if exc.reason == "too_many_redirects":
            return FeedError(
                "feed_too_many_redirects",
                f"The feed redirected more than {self._settings.max_redirects} times.",
                details={"url": url},
            )
        if exc.reason == "too_large":
            return _too_large(self._settings.max_bytes, exc.url)
        return FeedError(
            "feed_unreachable",
            f"The feed server could not be reached: {exc.detail}.",
            details={"url": exc.url},
        )


def _result(requested: str, reply: Reply, body: bytes, *, not_modified: bool) -> FetchResult:
    final = reply.url
    moved = final if (final != requested and reply.permanent) else None
    headers = reply.response.headers
    return FetchResult(
        requested_url=requested,
        final_url=final,
        moved_to=moved,
        not_modified=not_modified,
        body=body,
        content_type=headers.get("Content-Type"),
        etag=headers.get("ETag"),
        last_modified=headers.get("Last-Modified"),
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
