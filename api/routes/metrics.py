"""Prometheus metrics of this process (cache hits and misses, search latency)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from tellmemore.metrics import exposition

router = APIRouter(tags=["operations"])


@router.get("/metrics", summary="Prometheus metrics (text exposition format)")
async def metrics() -> Response:
    return Response(exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")
