"""The FastAPI application, built from settings (no globals, no environment reads)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.docs import docs_router
from api.errors import install_error_handlers
from api.llm_gateway import LlmGateway
from api.middleware import AccessLog, BodyLimit, RateLimit, SecurityHeaders
from api.proxies import TrustedProxies
from api.routes import (
    api_keys,
    auth,
    demo,
    discovery,
    episodes,
    health,
    history,
    jobs,
    llm,
    me,
    metrics,
    notifications,
    opml,
    playlists,
    podcasts,
    search,
    tellmemore,
    verification,
)
from api.text_guard import TextGuard
from api.web_app import WebApp
from models.embedder import LocalTextEmbedder
from tellmemore.clock import Clock, utc_now
from tellmemore.search import TextEmbedder
from tellmemore.settings import Settings
from tellmemore.storage import model_artifacts
from tellmemore.wiring import open_services


def create_app(
    settings: Settings,
    *,
    clock: Clock = utc_now,
    text_embedder: TextEmbedder | None = None,
    llm_gateway: LlmGateway | None = None,
) -> FastAPI:
    """The API with its services opened for the app's lifetime; ``clock`` is injectable so
    token expiry can be tested without waiting. Search embeds queries with ``text_embedder``
    (the Serve ingress passes its embedder deployment); by default the model is loaded in this
    process on the first search. ``/llm/v1`` forwards to ``llm_gateway`` (the Serve ingress
    passes the LLM application's handle); without one it answers 503."""
    embedder = text_embedder or LocalTextEmbedder(
        settings.models.embedder, artifacts=model_artifacts(settings.s3, settings.models)
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_services(settings, clock=clock, text_embedder=embedder) as services:
            app.state.services = services
            yield

    app = FastAPI(
        title="Tell Me More",
        version="0.1.0",
        summary="Playlists of the exact podcast minutes where a topic is discussed.",
        lifespan=lifespan,
        docs_url=None,  # api/docs.py serves both pages with our own copies of their files
        redoc_url=None,
    )
    app.state.llm = llm_gateway
    install_error_handlers(app)
    routers = (health, auth, me, api_keys, discovery, podcasts, episodes, jobs, opml, playlists)
    for module in (*routers, history, verification, notifications, search, tellmemore, llm):
        app.include_router(module.router)
    app.include_router(metrics.router)
    app.include_router(docs_router(app.title, app.openapi_url or "/openapi.json"))
    if settings.demo.enabled:
        app.include_router(demo.router)
    # Added innermost first: CORS is outermost so even refusals carry CORS headers.
    app.add_middleware(TextGuard)  # after the rate limit and the body limit
    app.add_middleware(RateLimit)
    app.add_middleware(
        BodyLimit,
        default_limit=settings.api.max_body_bytes,
        limits={"/opml/import": settings.api.opml_max_bytes},
    )
    app.add_middleware(AccessLog)
    web_dir = settings.api.web_dir
    if web_dir is not None and (web_dir / "index.html").is_file():
        # Outside the rate limit and the access log (a page load is a dozen files), inside
        # the security headers; API paths pass straight through (api/web_app.py).
        app.add_middleware(
            WebApp,
            directory=web_dir,
            route_paths=lambda: [getattr(r, "path", "") for r in app.routes],
        )
    app.add_middleware(SecurityHeaders, hsts=settings.environment == "production")
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.api.cors_origins,
        allow_origin_regex=settings.api.cors_origin_regex,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "If-Match", "X-TMM-CSRF"],
        # The refresh cookie (api/refresh_cookie.py) reaches an allowlisted origin only with
        # credentials; never with a wildcard, which would hand it to every site.
        allow_credentials="*" not in settings.api.cors_origins,
        expose_headers=[
            "Location",
            "ETag",
            "Retry-After",
            "RateLimit-Limit",
            "RateLimit-Remaining",
        ],
        max_age=600,
    )
    # Outermost: every layer (rate limits, the access log) sees the client's own address.
    app.add_middleware(TrustedProxies, trusted=settings.api.forwarded_allow_ips)
    return app
