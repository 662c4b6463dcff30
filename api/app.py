"""The FastAPI application, built from settings (no globals, no environment reads)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.routes import demo, discovery, episodes, health, opml, podcasts
from core.services import open_services
from core.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    """The API with its services opened for the app's lifetime."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_services(settings) as services:
            app.state.services = services
            yield

    app = FastAPI(
        title="Tell Me More",
        version="0.1.0",
        summary="Playlists of the exact podcast minutes where a topic is discussed.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for module in (health, discovery, podcasts, episodes, opml):
        app.include_router(module.router)
    if settings.demo.enabled:
        app.include_router(demo.router)
    return app
