"""Text the API accepts, checked once at the edge: no control characters in any query
parameter, path or JSON string.

PostgreSQL refuses NUL in text, and other control characters (and lone surrogates, which JSON's
``\\ud800`` escapes can smuggle in) are never meant: they end up in titles, notes and emails.
One pure ASGI middleware answers 422 ``invalid_text`` naming the field before any route runs,
so a new route is covered without remembering to be. Tab, line feed and carriage return stay
allowed (notes and descriptions have lines).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.text import DISALLOWED

_JSON_TYPES = ("application/json", "application/merge-patch+json")


def first_bad_text(value: Any, field: str) -> str | None:
    """The dotted name of the first string (or object key) in ``value`` that holds a
    disallowed character, or None."""
    for name, text in _strings(value, field):
        if DISALLOWED.search(text):
            return name
    return None


def _strings(value: Any, field: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield field, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"{field}.{key}", str(key)
            yield from _strings(item, f"{field}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{field}[{index}]")


class TextGuard:
    """Refuses requests whose path, query or JSON body carries a disallowed character."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bad = _bad_path_or_query(scope)
        if bad is None and _is_json(scope):
            body, receive = await _buffered(receive)
            bad = _bad_json(body)
        if bad is not None:
            await _refuse(send, bad)
            return
        await self.app(scope, receive, send)


def _bad_path_or_query(scope: Scope) -> str | None:
    if DISALLOWED.search(scope.get("path", "")):
        return "path"
    raw: bytes = scope.get("query_string", b"")
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        return "query"
    for name, value in pairs:
        if DISALLOWED.search(name) or DISALLOWED.search(value):
            return f"query.{DISALLOWED.sub('?', name)}"
    return None


def _is_json(scope: Scope) -> bool:
    if scope.get("method") not in ("POST", "PUT", "PATCH", "DELETE"):
        return False
    headers = dict(scope.get("headers", []))
    kind = headers.get(b"content-type", b"").decode("latin-1").split(";", 1)[0].strip().lower()
    return kind in _JSON_TYPES or kind.endswith("+json")


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """The whole body (BodyLimit, outside this middleware, has bounded it) and a ``receive``
    that hands it to the app again."""
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            return b"", receive
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def _bad_json(body: bytes) -> str | None:
    try:
        return first_bad_text(json.loads(body), "body")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None  # not JSON (or absurdly deep): the route's validation says so in its words


async def _refuse(send: Send, field: str) -> None:
    message = (
        f"{field} contains a control character (such as NUL) that text here cannot hold; "
        "remove it and try again."
    )
    payload = {"error": {"code": "invalid_text", "message": message, "details": {"field": field}}}
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 422, "headers": headers})
    await send({"type": "http.response.body", "body": body})
