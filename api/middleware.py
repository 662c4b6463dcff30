"""Cross-cutting HTTP concerns as pure ASGI middleware: security headers, an access log, body
size limits and rate limiting. Each runs before routing, so every route (and every 404) gets
the same treatment without a route having to remember it.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from typing import Any
from uuid import UUID

import psycopg
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tellmemore.accounts import Decision, LimiterUnavailable, is_api_key
from tellmemore.metrics import HTTP_REQUESTS, HTTP_SECONDS
from tellmemore.wiring import Services

log = logging.getLogger("tellmemore.http")

_DOC_PATHS = ("/docs", "/redoc", "/openapi.json")
# /ready is limited like any route (it reads the database, though at most once per
# api.ready_cache_s); /health touches nothing.
_UNLIMITED = ("/health", *_DOC_PATHS)
# Where a password is tried: a tight per-address bucket against guessing. A refresh presents a
# 256-bit token nobody can guess, and a web app spends one per page load, so it has a bucket of
# its own, as wide as a person with a few tabs needs.
AUTH_PATHS = frozenset({"/auth/login", "/auth/register"})
REFRESH_PATH = "/auth/refresh"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_METHODS = _SAFE_METHODS | {"POST", "PUT", "PATCH", "DELETE"}


def _services(scope: Scope) -> Services | None:
    return getattr(scope["app"].state, "services", None)


async def send_error(
    send: Send, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> None:
    """A response in the API's one error shape, from below the routing layer."""
    body = json.dumps({"error": {"code": code, "message": message, "details": {}}}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """Headers every API response should carry."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        extra = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        ]
        if not path.startswith(_DOC_PATHS):  # the docs page loads its own scripts and styles
            extra.append(
                (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
            )
        if path.startswith(("/auth", "/me")):
            extra.append((b"cache-control", b"no-store"))
        if self.hsts:
            extra.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in extra if k not in present
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


# Share links carry their secret in the path; logs must not hand it to whoever reads them.
_SHARE_TOKEN = re.compile(r"^(/shared/playlists/)[^/]+")


def _loggable_path(path: str) -> str:
    return _SHARE_TOKEN.sub(r"\1<token>", path)


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/episodes/{episode_id}``), so metrics have one
    series per route rather than one per id; every unmatched path counts as one."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class AccessLog:
    """One structured line per request: method, path (never the query), status, duration;
    and the request metrics (count by status, latency) per route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            route = route_template(scope)
            HTTP_REQUESTS.labels(route, method, str(status)).inc()
            HTTP_SECONDS.labels(route, method).observe(elapsed)
            log.info(
                "request",
                extra={
                    "method": method,
                    "path": _loggable_path(scope["path"]),
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 1),
                },
            )


class _TooLarge(StarletteHTTPException):
    """Raised from ``receive``; an HTTPException so FastAPI's body parsing lets it through
    (it turns other errors into a generic 400) and the error handler answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit // 1024} KiB.")


class BodyLimit:
    """Refuse request bodies over the limit with 413, whether or not they declare a length."""

    def __init__(self, app: ASGIApp, *, default_limit: int, limits: dict[str, int]) -> None:
        self.app = app
        self.default_limit = default_limit
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.default_limit)
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send, limit)

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        await send_error(
            send, 413, "body_too_large", f"The request body is larger than {limit // 1024} KiB."
        )


class RateLimit:
    """Per user (or per client IP when anonymous) limits, plus a stricter one on the account
    routes, counted in Redis. If Redis cannot be asked, reads go through (fail open) and writes
    are refused with 503 (fail closed): a Redis outage must not become a window for password
    guessing or for making the server fetch feeds without limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._last_warning = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services = _services(scope) if scope["type"] == "http" else None
        if (
            services is None
            or not services.settings.rate_limit.enabled
            or scope["path"].startswith(_UNLIMITED)
        ):
            await self.app(scope, receive, send)
            return
        limits = services.settings.rate_limit
        ip = scope["client"][0] if scope.get("client") else "unknown"
        user_id = await _user_of(services, scope)
        checks = [
            ("api", f"user:{user_id}", limits.per_user_per_minute)
            if user_id
            else ("api", f"ip:{ip}", limits.per_ip_per_minute)
        ]
        if scope["path"] in AUTH_PATHS:
            checks.append(("auth", f"ip:{ip}", limits.auth_per_minute))
        elif scope["path"] == REFRESH_PATH:
            checks.append(("refresh", f"ip:{ip}", limits.refresh_per_minute))
        try:
            decisions = [
                await services.limiter.hit(*check, window_s=limits.window_s) for check in checks
            ]
        except LimiterUnavailable as exc:
            self._warn(str(exc))
            if scope["method"] in _SAFE_METHODS:
                await self.app(scope, receive, send)
                return
            await send_error(
                send, 503, "rate_limiter_unavailable",
                "The service cannot take changes right now; try again shortly.",
                {"Retry-After": "5"},
            )  # fmt: skip
            return
        denied = [d for d in decisions if not d.allowed]
        if denied:
            wait = max(1, math.ceil(max(d.retry_after_s for d in denied)))
            await send_error(
                send, 429, "rate_limited",
                f"Too many requests; try again in {wait} second{'s' if wait != 1 else ''}.",
                {"Retry-After": str(wait), **_headers(denied[0])},
            )  # fmt: skip
            return
        primary = _headers(decisions[0])

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + [
                    (k.lower().encode(), v.encode()) for k, v in primary.items()
                ]
            await send(message)

        await self.app(scope, receive, send_with_limits)

    def _warn(self, reason: str) -> None:
        now = time.monotonic()
        if now - self._last_warning > 10:  # one line per 10 s, not one per request
            self._last_warning = now
            log.warning("rate limiter unavailable; reads pass, writes refused",
                        extra={"reason": reason})  # fmt: skip


async def _user_of(services: Services, scope: Scope) -> UUID | None:
    """Whose budget a request spends: the user behind a well-signed access token or a usable
    API key (a key spends its owner's), else nobody (the client's IP is counted)."""
    auth = dict(scope.get("headers", [])).get(b"authorization", b"").decode("latin-1")
    if auth[:7].lower() != "bearer ":
        return None
    token = auth[7:].strip()
    if not is_api_key(token):
        return services.auth.user_id_of(token)
    try:
        return await services.api_keys.user_id_of(token)
    except (psycopg.Error, PoolTimeout):
        return None  # the route's own check answers for the database


def _headers(decision: Decision) -> dict[str, Any]:
    return {"RateLimit-Limit": str(decision.limit), "RateLimit-Remaining": str(decision.remaining)}
