"""One way out for every URL the server fetches: feeds, publisher transcripts and chapters,
and audio enclosures all go through :meth:`Outbound.open`.

Each hop (the URL asked for, then every redirect) is parsed once, its host resolved once and
every address held against the policy (:mod:`tellmemore.catalog.feeds.addresses`); then the
request goes to one of those very addresses. The address is pinned by rewriting the request
URL's host to it, while the ``Host`` header keeps the name and, for https, the name is handed
to TLS as the ``sni_hostname`` request extension, so the certificate is still verified against
the name. The client never resolves anything itself, so a name that answers a public address
to the check and a private one to the connection (DNS rebinding) reaches nothing private.

The pool keys connections by scheme, address and port. An https connection verified for one
name must not carry a request for another name on the same address, so https requests ask the
server to close the connection after the response; plain http has no name to verify and pools
per address. Cookies are never kept: the jar would key them by address, across publishers.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Literal
from urllib.parse import urljoin, urlunsplit

import httpx

from tellmemore.catalog.feeds.addresses import (
    AddressPolicy,
    IPAddress,
    checked_addresses,
    numeric_host,
)
from tellmemore.catalog.feeds.urls import parse_http_url
from tellmemore.errors import FeedError

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})

# How a fetch failed on the way. "timeout": the whole fetch ran past its wall-clock limit;
# "stalled": the server stopped answering (connect or read timeout); "unreachable": any other
# transport failure; "too_large": the body is over the caller's limit.
Reason = Literal["timeout", "stalled", "unreachable", "too_many_redirects", "too_large"]


class OutboundError(Exception):
    """A fetch that failed on the way, for the caller to word in its own codes. URLs that are
    refused (bad scheme, forbidden host, a name that does not resolve) raise
    :class:`FeedError` with the ``url_*`` codes instead, as :mod:`urls` always has."""

    def __init__(self, reason: Reason, url: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {url} {detail}".rstrip())
        self.reason = reason
        self.url = url
        self.detail = detail


@dataclass(frozen=True)
class Reply:
    """The answer that ended the redirects (any status: 304 and errors are the caller's)."""

    url: str  # the URL it came from, with its name (not the pinned address)
    response: httpx.Response
    permanent: bool  # every redirect on the way was permanent (301/308)

    def check_length(self, limit: int) -> None:
        """Refuse (``too_large``) a body whose declared Content-Length is over ``limit``."""
        declared = self.response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise OutboundError("too_large", self.url)

    async def chunks(self, limit: int) -> AsyncIterator[bytes]:
        """The decoded body, refused (``too_large``) past ``limit`` bytes: at once when the
        declared Content-Length says so, otherwise as soon as the stream crosses it (which
        also stops gzip bombs)."""
        self.check_length(limit)
        size = 0
        async for chunk in self.response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise OutboundError("too_large", self.url)
            yield chunk


def make_client(
    *,
    connect_timeout_s: float,
    read_timeout_s: float,
    user_agent: str,
    limits: httpx.Limits | None = None,
    verify: ssl.SSLContext | bool = True,
) -> httpx.AsyncClient:
    """A client for :class:`Outbound`: no redirects of its own, no proxies from the
    environment (they would connect by name), no cookie jar. ``verify`` is for tests that
    trust their own certificate authority."""
    timeout = httpx.Timeout(
        connect=connect_timeout_s,
        read=read_timeout_s,
        write=read_timeout_s,
        pool=connect_timeout_s,
    )
    return httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        verify=verify,
        headers={"User-Agent": user_agent},
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        limits=limits or httpx.Limits(),
    )


@dataclass(frozen=True)
class Pinned:
    """One hop's URL with its host resolved and checked: where the request may go."""

    url: httpx.URL  # as asked, with the name (numeric hosts spelled as the address they are)
    addresses: list[IPAddress]
    sni_hostname: str | None  # https to a name: the name TLS verifies

    def request(
        self, client: httpx.AsyncClient, address: IPAddress, headers: Mapping[str, str]
    ) -> httpx.Request:
        """The request for ``address``: the URL's host is the address, ``Host`` the name."""
        pinned = {"Host": self.url.netloc.decode("ascii")}
        if self.sni_hostname is not None:
            pinned["Connection"] = "close"  # see the module docstring
        extensions = {"sni_hostname": self.sni_hostname} if self.sni_hostname else {}
        return client.build_request(
            "GET",
            self.url.copy_with(host=str(address)),
            headers={**headers, **pinned},
            extensions=extensions,
        )


async def pin(url: str, policy: AddressPolicy) -> Pinned:
    """Parse ``url``, resolve its host once and check every address (see :mod:`addresses`).

    The host is read once, by :func:`parse_http_url`; the URL httpx sees is rebuilt from that
    reading and must agree with it, so no two parsers can disagree about where it goes.
    Raises :class:`FeedError` (``url_*``, or ``feed_unreachable`` for a name that does not
    resolve)."""
    parts = parse_http_url(url)
    host = parts.hostname or ""
    try:
        numeric = numeric_host(host)
    except ValueError as exc:
        raise FeedError("url_invalid", f"The host {host!r} is not a usable address.") from exc
    canonical = host if numeric is None else str(numeric)
    shown = f"[{canonical}]" if ":" in canonical else canonical
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{shown}" if userinfo else shown
    if parts.port is not None:
        netloc += f":{parts.port}"
    try:
        logical = httpx.URL(urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, "")))
        agrees = logical.raw_host == httpx.URL(scheme="http", host=canonical).raw_host
    except httpx.InvalidURL as exc:
        raise FeedError("url_invalid", f"The URL cannot be parsed: {exc}.") from exc
    if not agrees:
        raise FeedError("url_invalid", f"The URL's host is ambiguous: {host!r}.")
    name = logical.raw_host.decode("ascii")  # IDNA applied, no brackets
    port = logical.port or (443 if logical.scheme == "https" else 80)
    addresses = await checked_addresses(name, port, policy)
    sni = name if logical.scheme == "https" and numeric is None else None
    return Pinned(logical, addresses, sni)


class Outbound:
    """Fetches URLs through ``client`` under a host policy, following redirects by hand."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        policy: AddressPolicy,
        *,
        max_redirects: int,
        total_timeout_s: float,
    ) -> None:
        self._client = client
        self._policy = policy
        self._max_redirects = max_redirects
        self._total_timeout_s = total_timeout_s

    @asynccontextmanager
    async def open(self, url: str, headers: Mapping[str, str]) -> AsyncIterator[Reply]:
        """GET ``url``, every redirect hop pinned and checked like the first, and yield the
        answer that is not a redirect (a redirect without ``Location`` included), its body
        unread. The wall-clock limit covers the body read inside the block too.

        Raises :class:`FeedError` for a refused URL on any hop and :class:`OutboundError`
        for the rest; the response is closed on the way out."""
        current = url
        permanent = True
        try:
            async with asyncio.timeout(self._total_timeout_s):
                for _hop in range(self._max_redirects + 1):
                    response = await self._send(await pin(current, self._policy), headers)
                    try:
                        location = response.headers.get("Location")
                        if response.status_code in _REDIRECTS and location:
                            permanent = permanent and response.status_code in _PERMANENT
                            current = urljoin(current, location)
                            continue
                        yield Reply(current, response, permanent)
                        return
                    finally:
                        await response.aclose()
        except TimeoutError as exc:
            raise OutboundError("timeout", url) from exc
        except httpx.TimeoutException as exc:
            raise OutboundError("stalled", current) from exc
        except httpx.HTTPError as exc:
            raise OutboundError("unreachable", current, type(exc).__name__) from exc
        raise OutboundError("too_many_redirects", url)

    async def _send(self, pinned: Pinned, headers: Mapping[str, str]) -> httpx.Response:
        """Send to the checked addresses in the resolver's order until one accepts."""
        last = len(pinned.addresses) - 1
        for i, address in enumerate(pinned.addresses):
            request = pinned.request(self._client, address, headers)
            try:
                return await self._client.send(request, stream=True, follow_redirects=False)
            except httpx.ConnectError:
                if i == last:
                    raise
            except httpx.InvalidURL as exc:  # httpx reads a Location even when not following
                raise FeedError(
                    "url_invalid", f"The server redirected to a URL that cannot be fetched: {exc}."
                ) from exc
        raise AssertionError("checked_addresses never answers an empty list")
