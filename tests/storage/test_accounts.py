"""Accounts end to end over HTTP: registration, login, tokens, sessions, profile, subscriptions."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tellmemore.settings import AuthSettings, Settings
from tests.conftest import bearer, register, serve
from tests.storage.helpers import rows
from tests.support.clock import FakeClock
from tests.support.http_server import LoopbackHTTPServer

PASSWORD = "correct horse battery"


def _code(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    code: str = response.json()["error"]["code"]
    return code


async def test_register_and_log_in(anon: AsyncClient, database_url: str) -> None:
    account = await register(anon, "Jane.Doe@Example.com")
    assert account["user"]["email"] == "Jane.Doe@example.com"  # domains are case-folded
    tokens = account["tokens"]
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 900
    me = await anon.get("/me", headers=bearer(tokens))
    assert me.json()["id"] == account["user"]["id"]
    # Emails are one account per address, whatever the case.
    again = await anon.post(
        "/auth/register", json={"email": "jane.doe@example.COM", "password": PASSWORD}
    )
    assert _code(again, 409) == "email_taken"
    login = await anon.post(
        "/auth/login", json={"email": "JANE.DOE@example.com", "password": PASSWORD}
    )
    assert login.status_code == 200
    assert login.json()["session_id"] != tokens["session_id"]  # a new session (device)
    stored = rows(database_url, "SELECT password_hash FROM users")
    assert stored[0]["password_hash"].startswith("$2b$04$")  # tests lower the cost


async def test_production_cost_is_12(settings: Settings, clean_db: None, database_url: str) -> None:
    real_cost = settings.model_copy(update={"auth": AuthSettings(jwt_secret="s" * 40)})
    assert real_cost.auth.bcrypt_rounds == 12
    async with serve(real_cost) as http:
        await register(http)
    assert rows(database_url, "SELECT password_hash FROM users")[0]["password_hash"].startswith(
        "$2b$12$"
    )


@pytest.mark.parametrize(
    ("email", "password", "code"),
    [
        ("a@example.com", "short", "password_too_short"),
        ("long.name@example.com", "long.name@example.com", "password_is_email"),
        ("long.name@example.com", "LONG.NAME@example.com", "password_is_email"),
        ("someone.else@example.com", "someone.else", "password_is_email"),
        ("a@example.com", "x" * 129, "password_too_long"),
        ("a@example.com", "aaaaaaaaaaaaaa", "password_too_simple"),
        ("not-an-email", PASSWORD, "validation_error"),
        ("a@example.com", "", "validation_error"),
    ],
)
async def test_password_and_email_rules(
    anon: AsyncClient, email: str, password: str, code: str
) -> None:
    response = await anon.post("/auth/register", json={"email": email, "password": password})
    assert _code(response, 422) == code


async def test_wrong_password_and_unknown_email_look_the_same(anon: AsyncClient) -> None:
    await register(anon, "known@example.com")
    wrong = await anon.post(
        "/auth/login", json={"email": "known@example.com", "password": "nope" * 3}
    )
    unknown = await anon.post(
        "/auth/login", json={"email": "nobody@example.com", "password": PASSWORD}
    )
    assert _code(wrong, 401) == _code(unknown, 401) == "invalid_credentials"
    assert wrong.json() == unknown.json()


async def test_requests_without_valid_tokens(anon: AsyncClient, settings: Settings) -> None:
    missing = await anon.get("/me")
    assert _code(missing, 401) == "not_authenticated"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert _code(await anon.get("/me", headers={"Authorization": "Bearer abc.def.ghi"}), 401) == (
        "token_invalid"
    )
    account = await register(anon)
    token = account["tokens"]["access_token"]
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    assert _code(await anon.get("/me", headers={"Authorization": f"Bearer {forged}"}), 401) == (
        "token_invalid"
    )
    other_secret = settings.model_copy(
        update={"auth": AuthSettings(jwt_secret="o" * 40, bcrypt_rounds=4)}
    )
    async with serve(other_secret) as elsewhere:
        assert _code(await elsewhere.get("/me", headers=bearer(account["tokens"])), 401) == (
            "token_invalid"
        )


async def test_access_token_expires_after_15_minutes(settings: Settings, clean_db: None) -> None:
    clock = FakeClock()
    async with serve(settings, clock=clock) as http:
        tokens = (await register(http))["tokens"]
        clock.advance(minutes=14, seconds=59)
        assert (await http.get("/me", headers=bearer(tokens))).status_code == 200
        clock.advance(seconds=1)
        assert _code(await http.get("/me", headers=bearer(tokens)), 401) == "token_expired"
        refreshed = await http.post(
            "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.status_code == 200, refreshed.text
        after = await http.get("/me", headers=bearer(refreshed.json()))
        assert after.status_code == 200, after.text
        # Refresh tokens last 30 days.
        clock.advance(days=30, seconds=1)
        late = await http.post(
            "/auth/refresh", json={"refresh_token": refreshed.json()["refresh_token"]}
        )
        assert _code(late, 401) == "refresh_token_expired"


async def test_refresh_rotation_and_reuse_detection(anon: AsyncClient) -> None:
    laptop = (await register(anon, "rotate@example.com"))["tokens"]
    phone = (
        await anon.post("/auth/login", json={"email": "rotate@example.com", "password": PASSWORD})
    ).json()

    first = await anon.post("/auth/refresh", json={"refresh_token": laptop["refresh_token"]})
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != laptop["refresh_token"]
    assert rotated["session_id"] == laptop["session_id"]

    # The old token again: someone replayed it. The laptop's whole session ends...
    replay = await anon.post("/auth/refresh", json={"refresh_token": laptop["refresh_token"]})
    assert _code(replay, 401) == "refresh_token_reused"
    newest = await anon.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert _code(newest, 401) == "session_revoked"
    assert _code(await anon.get("/me", headers=bearer(rotated)), 401) == "session_revoked"
    # ... and the phone's session keeps working.
    assert (await anon.get("/me", headers=bearer(phone))).status_code == 200
    assert (
        await anon.post("/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    ).status_code == 200
    unknown = await anon.post("/auth/refresh", json={"refresh_token": "x" * 43})
    assert _code(unknown, 401) == "refresh_token_invalid"


async def test_logout_ends_only_this_session(anon: AsyncClient) -> None:
    one = (await register(anon, "logout@example.com"))["tokens"]
    two = (
        await anon.post("/auth/login", json={"email": "logout@example.com", "password": PASSWORD})
    ).json()
    assert (await anon.post("/auth/logout", headers=bearer(one))).status_code == 204
    assert _code(await anon.get("/me", headers=bearer(one)), 401) == "session_revoked"
    assert _code(
        await anon.post("/auth/refresh", json={"refresh_token": one["refresh_token"]}), 401
    ) == ("session_revoked")
    assert (await anon.get("/me", headers=bearer(two))).status_code == 200
    sessions = (await anon.get("/me/sessions", headers=bearer(two))).json()
    assert [(s["current"], s["revoked_reason"]) for s in sessions] == [
        (True, None),
        (False, "logout"),
    ]


async def test_change_password(anon: AsyncClient) -> None:
    this = (await register(anon, "pw@example.com"))["tokens"]
    other = (
        await anon.post("/auth/login", json={"email": "pw@example.com", "password": PASSWORD})
    ).json()
    wrong = await anon.post(
        "/me/password",
        json={"current_password": "wrong-password", "new_password": "new passphrase 42"},
        headers=bearer(this),
    )
    assert _code(wrong, 403) == "invalid_credentials"
    weak = await anon.post(
        "/me/password",
        json={"current_password": PASSWORD, "new_password": "pw@example.com"},
        headers=bearer(this),
    )
    assert _code(weak, 422) == "password_is_email"
    ok = await anon.post(
        "/me/password",
        json={"current_password": PASSWORD, "new_password": "new passphrase 42"},
        headers=bearer(this),
    )
    assert ok.status_code == 204
    assert (await anon.get("/me", headers=bearer(this))).status_code == 200  # this session stays
    assert _code(await anon.get("/me", headers=bearer(other)), 401) == "session_revoked"
    old = await anon.post("/auth/login", json={"email": "pw@example.com", "password": PASSWORD})
    assert _code(old, 401) == "invalid_credentials"
    new = await anon.post(
        "/auth/login", json={"email": "pw@example.com", "password": "new passphrase 42"}
    )
    assert new.status_code == 200


async def test_profile_updates(anon: AsyncClient) -> None:
    tokens = (await register(anon, "profile@example.com"))["tokens"]
    await register(anon, "taken@example.com")
    named = await anon.patch("/me", json={"display_name": "Jane"}, headers=bearer(tokens))
    assert named.json()["display_name"] == "Jane"
    untouched = await anon.patch("/me", json={}, headers=bearer(tokens))
    assert untouched.json()["display_name"] == "Jane"
    cleared = await anon.patch("/me", json={"display_name": None}, headers=bearer(tokens))
    assert cleared.json()["display_name"] is None
    no_pw = await anon.patch("/me", json={"email": "new@example.com"}, headers=bearer(tokens))
    assert _code(no_pw, 422) == "password_required"
    taken = await anon.patch(
        "/me",
        json={"email": "TAKEN@example.com", "current_password": PASSWORD},
        headers=bearer(tokens),
    )
    assert _code(taken, 409) == "email_taken"
    moved = await anon.patch(
        "/me",
        json={"email": "new@example.com", "current_password": PASSWORD},
        headers=bearer(tokens),
    )
    assert moved.json()["email"] == "new@example.com"
    extra = await anon.patch("/me", json={"is_admin": True}, headers=bearer(tokens))
    assert _code(extra, 422) == "validation_error"


async def test_subscriptions(client: AsyncClient, feeds: LoopbackHTTPServer) -> None:
    added = await client.post("/podcasts", json={"feed_url": feeds.url("/feeds/basic.xml")})
    assert added.status_code == 201
    podcast_id = added.json()["podcast"]["id"]
    assert added.json()["subscribed"] is True
    listed = (await client.get("/me/subscriptions")).json()
    assert [s["podcast_id"] for s in listed] == [podcast_id]
    assert (await client.put(f"/me/subscriptions/{podcast_id}")).status_code == 200  # already
    assert (await client.delete(f"/me/subscriptions/{podcast_id}")).status_code == 204
    assert (
        _code(await client.delete(f"/me/subscriptions/{podcast_id}"), 404)
        == "subscription_not_found"
    )
    again = await client.put(f"/me/subscriptions/{podcast_id}")
    assert again.status_code == 201
    assert again.json() == {"podcast_id": podcast_id, "subscribed": True, "created": True}
    missing = "00000000-0000-4000-8000-000000000000"
    assert _code(await client.put(f"/me/subscriptions/{missing}"), 404) == "podcast_not_found"


async def test_a_second_user_subscribes_without_refetching(
    anon: AsyncClient, feeds: LoopbackHTTPServer
) -> None:
    first = (await register(anon))["tokens"]
    second = (await register(anon))["tokens"]
    url = feeds.url("/feeds/basic.xml")
    assert (
        await anon.post("/podcasts", json={"feed_url": url}, headers=bearer(first))
    ).status_code == 201
    fetches = len(feeds.hits("/feeds/basic.xml"))
    joined = await anon.post("/podcasts", json={"feed_url": url}, headers=bearer(second))
    assert joined.status_code == 200
    assert (joined.json()["subscribed"], joined.json()["episodes_added"]) == (True, 0)
    assert len(feeds.hits("/feeds/basic.xml")) == fetches
    repeat = await anon.post("/podcasts", json={"feed_url": url}, headers=bearer(second))
    assert _code(repeat, 409) == "already_subscribed"


async def test_catalog_writes_need_an_account(anon: AsyncClient, feeds: LoopbackHTTPServer) -> None:
    assert _code(
        await anon.post("/podcasts", json={"feed_url": feeds.url("/feeds/basic.xml")}), 401
    ) == ("not_authenticated")
    assert _code(await anon.post("/opml/import", content=b"<opml/>"), 401) == "not_authenticated"
    assert (await anon.get("/podcasts")).status_code == 200  # reading the catalog is open
