"""A real HTTP server on 127.0.0.1 that tests program route by route.

It speaks plain HTTP/1.1 from the standard library, so the production clients (httpx) are
exercised exactly as against a real feed host: status codes, ETag/Last-Modified validators,
redirects, slow answers, large bodies.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/rss+xml; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None  # answer 304 when If-None-Match matches
    last_modified: str | None = None  # answer 304 when If-Modified-Since matches exactly
    delay_s: float = 0.0  # wait before answering (timeouts)
    chunked: bool = False  # send without Content-Length
    # Send the body in pieces of ``drip_bytes`` with this pause before each (a slow drip that
    # never trips a read timeout but does trip a wall-clock one).
    drip_s: float = 0.0
    drip_bytes: int = 1024
    # Computes a response from the query string instead (e.g. the fake Apple API).
    handler: Callable[[dict[str, list[str]]], tuple[int, bytes, dict[str, str]]] | None = None


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]


class LoopbackHTTPServer:
    """Start with :meth:`start`; routes are keyed by path (query ignored)."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                with server._lock:
                    server.requests.append(
                        Seen("GET", parts.path, {k.lower(): v for k, v in self.headers.items()})
                    )
                    route = server.routes.get(parts.path)
                if route is None:
                    self._send(404, b"not found", {"Content-Type": "text/plain"})
                    return
                if route.delay_s:
                    time.sleep(route.delay_s)
                if route.handler is not None:
                    status, body, headers = route.handler(parse_qs(parts.query))
                    self._send(status, body, headers)
                    return
                headers = {"Content-Type": route.content_type, **route.headers}
                if route.etag:
                    headers["ETag"] = route.etag
                if route.last_modified:
                    headers["Last-Modified"] = route.last_modified
                # As RFC 9110 says: If-None-Match, when sent, decides alone.
                if_none_match = self.headers.get("If-None-Match")
                if if_none_match is not None:
                    fresh = bool(route.etag) and if_none_match == route.etag
                else:
                    since = self.headers.get("If-Modified-Since")
                    fresh = bool(route.last_modified) and since == route.last_modified
                if route.status == 200 and fresh:
                    self._send(304, b"", headers)
                    return
                self._send(
                    route.status,
                    route.body,
                    headers,
                    chunked=route.chunked,
                    drip=(route.drip_s, route.drip_bytes),
                )

            def _send(
                self,
                status: int,
                body: bytes,
                headers: dict[str, str],
                chunked: bool = False,
                drip: tuple[float, int] | None = None,
            ) -> None:
                # Unpaced bodies go out as before: chunked in 16 KiB pieces, otherwise at once.
                unpaced = (0.0, 16384 if chunked else max(len(body), 1))
                pause, step = drip if drip and drip[0] > 0 else unpaced
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    if chunked:
                        self.send_header("Transfer-Encoding", "chunked")
                    else:
                        self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if status == 304:
                        return
                    for i in range(0, len(body), step):
                        if pause:
                            self.wfile.flush()
                            time.sleep(pause)
                        piece = body[i : i + step]
                        if chunked:
                            piece = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
                        self.wfile.write(piece)
                    if chunked:
                        self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test); nothing to do

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self) -> LoopbackHTTPServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def add(self, path: str, route: Route | None = None, **kwargs: object) -> str:
        """Serve ``path``; returns its full URL."""
        self.routes[path] = route or Route(**kwargs)  # type: ignore[arg-type]
        return self.url(path)

    def hits(self, path: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def reset(self) -> None:
        with self._lock:
            self.routes.clear()
            self.requests.clear()
