"""The web app's refresh cookie: set on register/login/refresh, read back with the CSRF header,
rotated with reuse detection as in the body flow, cleared on logout."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.cookies import SimpleCookie
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient, Response

from api.app import create_app
from tellmemore.settings import Settings
from tests.conftest import bearer

PASSWORD = "correct horse battery"
CSRF = {"X-TMM-CSRF": "1"}


@asynccontextmanager
async def _browser(settings: Settings, base_url: str) -> AsyncIterator[AsyncClient]:
    """The app at ``base_url``, with httpx's cookie jar standing in for the browser's."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with AsyncClient(transport=transport, base_url=base_url) as http:
            yield http


def _cookie(response: Response) -> Any:
    """The ``tmm_refresh`` Set-Cookie of a response, parsed."""
    headers = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    assert len(headers) == 1, headers
    jar: SimpleCookie = SimpleCookie()
    jar.load(headers[0])
    return jar["tmm_refresh"]


def _code(response: Response, status: int) -> str:
    assert response.status_code == status, response.text
    code: str = response.json()["error"]["code"]
    return code


async def _sign_up(http: AsyncClient) -> dict[str, Any]:
    response = await http.post(
        "/auth/register",
        json={"email": "cookie@example.com", "password": PASSWORD, "refresh_cookie": True},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def local(settings: Settings, clean_db: None) -> AsyncIterator[AsyncClient]:
    """The app as ``make run`` serves it: plain http on 127.0.0.1."""
    async with _browser(settings, "http://127.0.0.1:8000") as http:
        yield http


async def test_register_sets_the_cookie_and_leaves_it_out_of_the_body(
    local: AsyncClient, settings: Settings
) -> None:
    response = await local.post(
        "/auth/register",
        json={"email": "new@example.com", "password": PASSWORD, "refresh_cookie": True},
    )
    assert response.status_code == 201, response.text
    assert response.json()["tokens"]["refresh_token"] is None
    cookie = _cookie(response)
    assert len(cookie.value) >= 20
    assert cookie["httponly"] is True
    assert cookie["samesite"].lower() == "strict"
    assert cookie["path"] == "/auth"
    assert cookie["max-age"] == str(settings.auth.refresh_token_ttl_s)
    assert not cookie["secure"]  # plain http on loopback: a browser would drop a Secure one
    me = await local.get("/me", headers=bearer(response.json()["tokens"]))
    assert me.status_code == 200


async def test_refresh_from_the_cookie_needs_the_csrf_header_and_rotates(
    local: AsyncClient,
) -> None:
    await _sign_up(local)
    first = local.cookies["tmm_refresh"]
    # Without the header (a form post from another site could not add it): refused, and the
    # cookie is left as it was.
    refused = await local.post("/auth/refresh", json={"refresh_cookie": True})
    assert _code(refused, 403) == "csrf_header_required"
    wrong = await local.post(
        "/auth/refresh", json={"refresh_cookie": True}, headers={"X-TMM-CSRF": "0"}
    )
    assert _code(wrong, 403) == "csrf_header_required"
    assert local.cookies["tmm_refresh"] == first
    rotated = await local.post("/auth/refresh", json={"refresh_cookie": True}, headers=CSRF)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["refresh_token"] is None
    second = _cookie(rotated).value
    assert second != first
    assert local.cookies["tmm_refresh"] == second
    me = await local.get("/me", headers=bearer(rotated.json()))
    assert me.status_code == 200
    # Replaying the first cookie is reuse: the session ends, the current cookie with it.
    local.cookies.clear()
    replay = await local.post(
        "/auth/refresh",
        json={"refresh_cookie": True},
        headers={**CSRF, "Cookie": f"tmm_refresh={first}"},
    )
    assert _code(replay, 401) == "refresh_token_reused"
    after = await local.post(
        "/auth/refresh",
        json={"refresh_cookie": True},
        headers={**CSRF, "Cookie": f"tmm_refresh={second}"},
    )
    assert _code(after, 401) == "session_revoked"


async def test_a_missing_or_forged_cookie_is_refused(local: AsyncClient) -> None:
    missing = await local.post("/auth/refresh", json={"refresh_cookie": True}, headers=CSRF)
    assert _code(missing, 401) == "refresh_cookie_missing"
    forged = await local.post(
        "/auth/refresh",
        json={"refresh_cookie": True},
        headers={**CSRF, "Cookie": "tmm_refresh=" + "x" * 43},
    )
    assert _code(forged, 401) == "refresh_token_invalid"


@pytest.mark.parametrize(
    "body",
    [{}, {"refresh_cookie": False}, {"refresh_cookie": True, "refresh_token": "t" * 43}],
)
async def test_refresh_takes_exactly_one_source(local: AsyncClient, body: dict[str, Any]) -> None:
    assert _code(await local.post("/auth/refresh", json=body, headers=CSRF), 422) == (
        "validation_error"
    )


async def test_login_sets_the_cookie_and_logout_clears_it(local: AsyncClient) -> None:
    await _sign_up(local)
    local.cookies.clear()
    login = await local.post(
        "/auth/login",
        json={"email": "cookie@example.com", "password": PASSWORD, "refresh_cookie": True},
    )
    assert login.status_code == 200, login.text
    assert login.json()["refresh_token"] is None
    token = _cookie(login).value
    logout = await local.post("/auth/logout", headers=bearer(login.json()))
    assert logout.status_code == 204
    cleared = _cookie(logout)
    assert cleared.value == ""
    assert cleared["max-age"] == "0"
    assert cleared["path"] == "/auth"
    assert "tmm_refresh" not in local.cookies
    # The session is over whatever the browser kept.
    again = await local.post(
        "/auth/refresh",
        json={"refresh_cookie": True},
        headers={**CSRF, "Cookie": f"tmm_refresh={token}"},
    )
    assert _code(again, 401) == "session_revoked"


async def test_the_body_flow_sets_no_cookie(local: AsyncClient) -> None:
    registered = await local.post(
        "/auth/register", json={"email": "api@example.com", "password": PASSWORD}
    )
    assert registered.status_code == 201
    assert "set-cookie" not in registered.headers
    token = registered.json()["tokens"]["refresh_token"]
    refreshed = await local.post("/auth/refresh", json={"refresh_token": token})
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["refresh_token"] not in (None, token)
    assert "set-cookie" not in refreshed.headers


@pytest.mark.parametrize(
    ("base_url", "environment", "forced", "secure"),
    [
        ("http://api.test", "test", None, True),  # not loopback
        ("https://127.0.0.1:8443", "test", None, True),
        ("http://localhost:8000", "test", None, False),
        ("http://127.0.0.1:8000", "production", None, True),
        ("http://127.0.0.1:8000", "test", True, True),
        ("https://api.test", "test", False, False),
    ],
)
async def test_the_cookie_is_secure_except_on_plain_local_http(
    settings: Settings,
    clean_db: None,
    base_url: str,
    environment: str,
    forced: bool | None,
    secure: bool,
) -> None:
    api = settings.api.model_copy(update={"refresh_cookie_secure": forced})
    configured = settings.model_copy(update={"environment": environment, "api": api})
    async with _browser(configured, base_url) as http:
        cookie = _cookie(await _sign_up_response(http))
    assert bool(cookie["secure"]) is secure


async def _sign_up_response(http: AsyncClient) -> Response:
    response = await http.post(
        "/auth/register",
        json={"email": "secure@example.com", "password": PASSWORD, "refresh_cookie": True},
    )
    assert response.status_code == 201, response.text
    return response
