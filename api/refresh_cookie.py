"""The refresh token in an HttpOnly cookie, for the web app.

A browser app that keeps its refresh token in ``localStorage`` hands it to any script that ever
runs on the page; in an HttpOnly cookie no script can read it. The cookie is ``SameSite=Strict``
and scoped to ``Path=/auth``, so it travels only to the auth routes and never with a request
another site starts. Refreshing from the cookie also requires the ``X-TMM-CSRF: 1`` header: a
plain HTML form cannot set a header, and a cross-origin script that could is stopped by CORS'
preflight, so the header proves the request came from our own code. API clients keep the body
flow (the token in the JSON), which needs none of this.
"""

from __future__ import annotations

import ipaddress

from fastapi import Request, Response

from tellmemore.errors import CatalogError, ErrorKind
from tellmemore.settings import Settings

COOKIE = "tmm_refresh"
COOKIE_PATH = "/auth"
CSRF_HEADER = "X-TMM-CSRF"


def _loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cookie_secure(settings: Settings, request: Request) -> bool:
    """``Secure`` always, except plain http to a loopback host outside production: a browser
    drops a Secure cookie set over http, and ``make run`` serves http://127.0.0.1:8000."""
    if settings.api.refresh_cookie_secure is not None:
        return settings.api.refresh_cookie_secure
    if settings.environment == "production":
        return True
    return not (request.url.scheme == "http" and _loopback(request.url.hostname))


def set_refresh_cookie(
    response: Response, token: str, settings: Settings, request: Request
) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=settings.auth.refresh_token_ttl_s,
        path=COOKIE_PATH,
        secure=cookie_secure(settings, request),
        httponly=True,
        samesite="strict",
    )


def clear_refresh_cookie(response: Response, settings: Settings, request: Request) -> None:
    response.delete_cookie(
        COOKIE,
        path=COOKIE_PATH,
        secure=cookie_secure(settings, request),
        httponly=True,
        samesite="strict",
    )


def refresh_token_from_cookie(request: Request) -> str:
    """The cookie's token, once the CSRF header is there (checked first: without it the
    request may not be ours, so it learns nothing about the cookie)."""
    if request.headers.get(CSRF_HEADER) != "1":
        raise CatalogError(
            "csrf_header_required",
            f"Refreshing from the cookie needs the header {CSRF_HEADER}: 1.",
            ErrorKind.FORBIDDEN,
        )
    token = request.cookies.get(COOKIE)
    if not token:
        raise CatalogError(
            "refresh_cookie_missing",
            "There is no session cookie; log in again.",
            ErrorKind.UNAUTHORIZED,
        )
    return token
