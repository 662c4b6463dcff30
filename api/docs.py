"""``/docs`` and ``/redoc`` with their scripts and styles served by us, not a CDN.

FastAPI's own pages load Swagger UI and ReDoc from jsDelivr (and fonts from Google), so they
are blank offline, on an air-gapped cluster, or behind a proxy that blocks CDNs. The files come
from the pinned ``fastapi-offline`` package (its ``static/`` folder: Swagger UI's bundle and
CSS, ReDoc's standalone script), served under ``/docs/assets/``; only names in that folder are
served, so no path a client sends reaches the filesystem elsewhere.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse

from tellmemore.errors import CatalogError, ErrorKind

ASSETS = "/docs/assets"
_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
# The package's version pins the files; a week is long enough and short enough.
_CACHE = {"Cache-Control": "public, max-age=604800"}


def _assets() -> dict[str, Path]:
    root = resources.files("fastapi_offline").joinpath("static")
    if not isinstance(root, Path):
        raise RuntimeError("fastapi_offline must be installed as plain files.")
    return {p.name: p for p in root.iterdir() if p.suffix in _TYPES and p.is_file()}


def docs_router(title: str, openapi_url: str) -> APIRouter:
    """The documentation pages of the app called ``title``."""
    router = APIRouter(include_in_schema=False)
    files = _assets()

    @router.get("/docs")
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - API",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
        )

    @router.get("/docs/oauth2-redirect")
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @router.get("/redoc")
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} - API",
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png",
            with_google_fonts=False,
        )

    @router.get(ASSETS + "/{name}")
    async def asset(name: str) -> FileResponse:
        path = files.get(name)
        if path is None:
            raise CatalogError("not_found", "There is no such file.", ErrorKind.NOT_FOUND)
        return FileResponse(path, media_type=_TYPES[path.suffix], headers=_CACHE)

    return router
