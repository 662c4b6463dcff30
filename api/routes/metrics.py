"""Prometheus metrics of this process (cache hits and misses, search latency).

Not for everyone: request counts per route and latencies tell an outsider what is used and how
busy we are. ``api.metrics_token`` set: only a bearer of that token is answered. Unset: open in
development and tests (loopback), and in production the route does not exist (404), because
Prometheus scrapes the same series from each Ray node's metrics port.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response

from api.deps import get_settings
from tellmemore.errors import CatalogError, ErrorKind
from tellmemore.metrics import exposition
from tellmemore.settings import Settings

router = APIRouter(tags=["operations"])
# What an unknown route answers (api/errors.py), so production's /metrics looks like one.
NO_SUCH_ROUTE = "There is no such route; see /docs for the API."


def _allowed(settings: Settings, authorization: str | None) -> None:
    token = settings.api.metrics_token
    if token is None:
        if settings.environment == "production":
            raise CatalogError("not_found", NO_SUCH_ROUTE, ErrorKind.NOT_FOUND)
        return
    scheme, _, given = (authorization or "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise CatalogError(
            "metrics_token_required",
            "The metrics need the operator's token: send Authorization: Bearer <token>.",
            ErrorKind.UNAUTHORIZED,
        )


@router.get("/metrics", summary="Prometheus metrics (text exposition format)")
async def metrics(
    settings: Annotated[Settings, Depends(get_settings)],
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    _allowed(settings, authorization)
    return Response(exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")
