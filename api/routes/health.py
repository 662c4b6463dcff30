"""Liveness (the process answers) and readiness (the database is there and migrated)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout

from api.deps import ServicesDep, SettingsDep
from api.schemas import HealthOut, ReadyOut
from tellmemore.storage import load_migrations, migration_status
from tellmemore.wiring import Services

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut, summary="The process is alive")
async def health() -> HealthOut:
    return HealthOut(status="ok")


@router.get(
    "/ready",
    response_model=ReadyOut,
    summary="The database is reachable and its schema is current",
    responses={503: {"model": ReadyOut, "description": "Not ready"}},
)
async def ready(
    request: Request, services: ServicesDep, settings: SettingsDep
) -> ReadyOut | JSONResponse:
    """Anyone can call this, so it must cost next to nothing: the answer is reused for
    ``api.ready_cache_s``, and concurrent callers wait for one check instead of each querying
    the database (it also counts against the per-IP rate limit like any other route)."""
    probe: _Probe = getattr(request.app.state, "ready_probe", None) or _Probe()
    request.app.state.ready_probe = probe
    async with probe.lock:
        if probe.body is None or time.monotonic() - probe.at >= settings.api.ready_cache_s:
            probe.body = await _check(services)
            probe.at = time.monotonic()
        body = probe.body
    if body.problems:
        return JSONResponse(body.model_dump(), status_code=503)
    return body


@dataclass
class _Probe:
    at: float = 0.0
    body: ReadyOut | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


async def _check(services: Services) -> ReadyOut:
    latest = max((m.version for m in load_migrations()), default=0)
    problems: list[str] = []
    version: int | None = None
    reachable = False
    try:
        async with services.pool.connection(timeout=2.0) as conn:
            status = await migration_status(conn)
        reachable = True
        version = status.current
        if status.pending:
            problems.append(
                f"migrations not applied: {list(status.pending)} (run `tmm db migrate`)"
            )
        if status.changed:
            problems.append(f"applied migrations edited since: {list(status.changed)}")
    except (PoolTimeout, psycopg.Error) as exc:
        problems.append(f"database unreachable: {type(exc).__name__}")
    return ReadyOut(
        status="not_ready" if problems else "ready",
        database=reachable,
        schema_version=version,
        schema_latest=latest,
        problems=problems,
    )
