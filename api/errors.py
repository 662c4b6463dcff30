"""One error shape for every failure: ``{"error": {"code", "message", "details"}}``.

Clients branch on ``code`` (stable, machine-readable) and may show ``message`` (a sentence a
person understands). Validation errors, unknown routes and database outages get the same shape.
"""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from tellmemore.errors import CatalogError, ErrorKind

STATUS = {
    ErrorKind.INVALID: 422,
    ErrorKind.UNAUTHORIZED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.PRECONDITION_FAILED: 412,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.UPSTREAM_THROTTLED: 503,
    ErrorKind.UPSTREAM_FAILED: 502,
    ErrorKind.UNAVAILABLE: 503,
}

_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


async def _catalog_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CatalogError)
    headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s else {}
    if exc.kind is ErrorKind.PRECONDITION_FAILED and "version" in exc.details:
        headers["ETag"] = f'"{exc.details["version"]}"'  # what to send in If-Match now
    if exc.kind is ErrorKind.UNAUTHORIZED:
        headers["WWW-Authenticate"] = (
            f'Bearer error="invalid_token", error_description="{exc.code}"'
        )

    return JSONResponse(
        error_body(exc.code, exc.message, exc.details), STATUS[exc.kind], headers=headers
    )


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "request"


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type")}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"field": "request", "message": "invalid"}
    message = f"{first['field']}: {first['message']}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return JSONResponse(error_body("validation_error", message, {"errors": errors}), 422)


_HTTP_MESSAGES = {
    404: "There is no such route; see /docs for the API.",
    405: "This route does not accept that HTTP method; see /docs for the API.",
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    message = _HTTP_MESSAGES.get(exc.status_code) or (
        exc.detail if isinstance(exc.detail, str) else "The request failed."
    )
    return JSONResponse(error_body(code, message), exc.status_code, headers=exc.headers)


async def _database_down(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        error_body("database_unavailable", "The database is not reachable; try again shortly."),
        503,
        headers={"Retry-After": "5"},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CatalogError, _catalog_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(PoolTimeout, _database_down)
    app.add_exception_handler(psycopg.OperationalError, _database_down)
