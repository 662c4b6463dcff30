"""CORS, security headers, and bodies that are too large or malformed: always 4xx, never 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi.routing import APIRoute
from httpx import AsyncClient
from pydantic import ValidationError

from api.app import create_app
from tellmemore.settings import ApiSettings, Settings
from tests.conftest import serve

FRONTEND = "https://app.tellmemore.example"


async def test_cors_allowlist(settings: Settings, clean_db: None) -> None:
    configured = settings.model_copy(
        update={"api": ApiSettings(**{**settings.api.model_dump(), "cors_origins": [FRONTEND]})}
    )
    async with serve(configured) as http:
        preflight = await http.options(
            "/me",
            headers={"Origin": FRONTEND, "Access-Control-Request-Method": "GET",
                     "Access-Control-Request-Headers": "authorization"},
        )  # fmt: skip
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == FRONTEND
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        simple = await http.get("/podcasts", headers={"Origin": FRONTEND})
        assert simple.headers["access-control-allow-origin"] == FRONTEND
        evil = await http.get("/podcasts", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in evil.headers
        denied = await http.options(
            "/me",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert denied.status_code == 400


PREVIEWS = r"^https://tmm-web-[a-z0-9-]+-ourteam\.vercel\.app$"


async def test_cors_preview_origins_by_pattern(settings: Settings, clean_db: None) -> None:
    """Preview deploys get a URL per pull request: a pattern admits them, whole origins only."""
    api = ApiSettings(**{**settings.api.model_dump(), "cors_origin_regex": PREVIEWS})
    async with serve(settings.model_copy(update={"api": api})) as http:
        preview = "https://tmm-web-git-search-speed-ourteam.vercel.app"
        allowed = await http.get("/podcasts", headers={"Origin": preview})
        assert allowed.headers["access-control-allow-origin"] == preview
        assert allowed.headers["access-control-allow-credentials"] == "true"
        for origin in (
            "https://tmm-web-x-ourteam.vercel.app.evil.example",
            "https://evil.example/?https://tmm-web-x-ourteam.vercel.app",
            "http://tmm-web-x-ourteam.vercel.app",
            "https://tmm-web-x-otherteam.vercel.app",
        ):
            refused = await http.get("/podcasts", headers={"Origin": origin})
            assert "access-control-allow-origin" not in refused.headers, origin


@pytest.mark.parametrize(
    "pattern",
    [
        ".*",
        "https://.*",
        "^https://.*",
        "^https://.*$",
        "^https://[a-z-]+\\.vercel\\.app$",
        "^http://x\\.example$",
        "^https://(x$",
    ],
)
def test_a_cors_pattern_must_be_whole_https_origins(pattern: str) -> None:
    with pytest.raises(ValidationError):
        ApiSettings(cors_origin_regex=pattern)


async def test_security_headers_on_every_kind_of_response(client: AsyncClient) -> None:
    for response in (
        await client.get("/podcasts"),
        await client.get("/no/such/route"),
        await client.get("/me"),
        await client.post("/auth/login", content=b"{"),
    ):
        h = response.headers
        assert h["x-content-type-options"] == "nosniff"
        assert h["x-frame-options"] == "DENY"
        assert h["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in h["content-security-policy"]
    assert (await client.get("/me")).headers["cache-control"] == "no-store"
    assert "content-security-policy" not in (await client.get("/docs")).headers


JUNK = [
    b"",
    b"{",
    b"null",
    b"[]",
    b'"a string"',
    b"\xff\xfe\x00garbage",
    b'{"email": {"$gt": ""}, "password": ["x"]}',
    b"[" * 5000 + b"]" * 5000,
    b'{"a": ' * 200 + b"1" + b"}" * 200,
    b'{"email": "a@example.com", "password": "' + b"p" * 2000 + b'"}',
]


@pytest.mark.parametrize("body", JUNK, ids=range(len(JUNK)))
async def test_malformed_bodies_are_4xx_on_every_write_route(
    client: AsyncClient, settings: Settings, body: bytes
) -> None:
    app = create_app(settings)
    writes = sorted(
        (method, route.path.replace("{podcast_id}", "00000000-0000-4000-8000-000000000000")
         .replace("{session_id}", "00000000-0000-4000-8000-000000000000"),
         route.body_field is not None or route.path == "/opml/import")
        for route in app.routes if isinstance(route, APIRoute)
        for method in route.methods if method in ("POST", "PUT", "PATCH", "DELETE")
    )  # fmt: skip
    assert sum(takes_body for *_, takes_body in writes) >= 8
    for content_type in ("application/json", "text/plain"):
        for method, path, takes_body in writes:
            response = await client.request(
                method, path, content=body, headers={"Content-Type": content_type}
            )
            assert response.status_code < 500, (method, path, response.text)
            if takes_body:  # routes without a body ignore it; the others must refuse it
                assert 400 <= response.status_code < 500, (method, path, response.text)
                assert "code" in response.json()["error"], (method, path)


async def test_oversized_bodies_are_413_before_they_are_read(client: AsyncClient) -> None:
    big = b'{"email": "a@example.com", "password": "' + b"p" * (100 * 1024) + b'"}'
    response = await client.post(
        "/auth/login", content=big, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while streaming
        for _ in range(100):
            yield b" " * 1024

    streamed = await client.post(
        "/auth/register", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    assert streamed.json()["error"]["code"] == "body_too_large"
