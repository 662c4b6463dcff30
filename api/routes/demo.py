"""The demo podcast's files, served only when ``settings.demo.enabled`` (development)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from core.demo import render_demo_feed

router = APIRouter(prefix="/demo", tags=["demo"], include_in_schema=False)


@router.get("/feed.xml")
async def demo_feed(request: Request) -> Response:
    return Response(
        render_demo_feed(str(request.base_url)), media_type="application/rss+xml; charset=utf-8"
    )
