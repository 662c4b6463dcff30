"""Liveness (the process answers) and readiness (the database is there and migrated)."""

from __future__ import annotations

import psycopg
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout

from api.deps import ServicesDep
from api.schemas import HealthOut, ReadyOut
from tellmemore.storage import load_migrations, migration_status

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
async def ready(services: ServicesDep) -> ReadyOut | JSONResponse:
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
    body = ReadyOut(
        status="not_ready" if problems else "ready",
        database=reachable,
        schema_version=version,
        schema_latest=latest,
        problems=problems,
    )
    if problems:
        return JSONResponse(body.model_dump(), status_code=503)
    return body
