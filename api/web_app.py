"""The web app (``web/dist``, built by ``npm run build``) on the API's own origin.

Locally the browser then talks to one origin: no CORS, and the refresh cookie (SameSite=Strict)
just works. The app's pages share paths with the API (``/search``, ``/playlists/{id}``,
``/episodes/{id}``), as a REST API and its app naturally do, so the two are told apart by who
asks: a browser *navigating* (``Sec-Fetch-Mode: navigate``, or HTML as the first type it
accepts) gets the app's ``index.html`` and its client-side router shows the page; everything
else (the app's own ``fetch`` calls, curl, SDKs) reaches the API, so an unknown API path is
still the API's JSON 404. The API's documents that people open in a browser (``/docs``,
``/openapi.json``, the demo feed and audio, health, metrics, exports) always go to the API.
Other GETs are files of the build: Vite names those under ``assets/`` by their content's
hash, so they are cached for a year; ``index.html`` and the rest are revalidated on every
load, so a new build shows at once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from starlette.responses import FileResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
# Scripts and styles only from our own files (no inline code, no CDN); artwork and audio come
# from the podcasts' own hosts, so images and media may load from anywhere over http(s).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: https: http:; media-src 'self' blob: https: http:; "
    "connect-src 'self'; font-src 'self' data:; manifest-src 'self'; worker-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


# First path segments of API routes that a browser may open as documents.
DOCUMENTS = frozenset(
    {"docs", "redoc", "openapi.json", "demo", "health", "ready", "metrics", "llm"}
)


def api_prefixes(paths: list[str]) -> frozenset[str]:
    """The first path segments that belong to the API (``/auth/login`` -> ``auth``)."""
    return frozenset(p.split("/")[1] for p in paths if p.startswith("/") and p != "/")


class WebApp:
    """Serves ``directory`` beside the API (``route_paths`` lists the API's routes, read at the
    first request, once every router is in)."""

    def __init__(self, app: ASGIApp, *, directory: Path, route_paths: Callable[[], list[str]]):
        self.app = app
        self._root = directory.resolve()
        self._route_paths = route_paths
        self._prefixes: frozenset[str] | None = None

    def _file(self, path: str) -> Path | None:
        """The build's file at ``path``: never outside the folder, never a dotfile."""
        parts = [p for p in path.split("/") if p]
        if not parts or any(p.startswith(".") or "\\" in p or "\x00" in p for p in parts):
            return None
        candidate = self._root.joinpath(*parts)
        try:
            if candidate.resolve().is_relative_to(self._root) and candidate.is_file():
                return candidate
        except (OSError, ValueError):
            return None
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        if self._prefixes is None:
            self._prefixes = api_prefixes(self._route_paths())
        path: str = scope["path"]
        segments = path.split("/")
        if segments[1] in self._prefixes:
            if _navigation(scope) and segments[1] not in DOCUMENTS and segments[-1] != "export":
                await self._index(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        found = self._file(path)
        if found is not None and found.name != "index.html":
            cache = IMMUTABLE if path.startswith("/assets/") else REVALIDATE
            await _file_response(scope, found, {"Cache-Control": cache})(scope, receive, send)
        elif path == "/" or found is not None or _navigation(scope):
            await self._index(scope, receive, send)
        else:  # not a file, not a page: the API's JSON 404
            await self.app(scope, receive, send)

    async def _index(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {"Cache-Control": REVALIDATE, "Content-Security-Policy": CSP}
        index = self._root / "index.html"
        await _file_response(scope, index, headers, "text/html; charset=utf-8")(
            scope, receive, send
        )


def _file_response(
    scope: Scope, path: Path, headers: dict[str, str], media_type: str | None = None
) -> Response:
    """The file, or 304 when the browser's copy (its ETag) is current: revalidating
    ``index.html`` on every load then costs one small answer."""
    response = FileResponse(path, headers=headers, media_type=media_type, stat_result=path.stat())
    sent = dict(scope["headers"]).get(b"if-none-match", b"").decode("latin-1")
    etag = response.headers.get("etag")
    if etag and etag in (t.strip() for t in sent.split(",")):
        return Response(status_code=304, headers={"ETag": etag, **headers})
    return response


def _navigation(scope: Scope) -> bool:
    """A browser loading a page (not a script's fetch, not an API client)."""
    headers: dict[bytes, bytes] = dict(scope["headers"])
    mode = headers.get(b"sec-fetch-mode")
    if mode is not None:
        return mode == b"navigate"
    accept = headers.get(b"accept", b"").lower()
    return accept.split(b",")[0].split(b";")[0].strip() == b"text/html"
