"""API keys against the real PostgreSQL and Redis: made from a session and shown once, stored
only as a digest, scoped, revocable, expiring, spending their owner's rate limit, and gone with
the account."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import psycopg
from httpx import AsyncClient, Response

from tellmemore.settings import RateLimitSettings, Settings
from tests.conftest import bearer, register, serve
from tests.storage.helpers import rows
from tests.support.clock import FakeClock

PODCAST = "00000000-0000-4000-8000-000000000000"


def key_auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def code(response: Response, status: int) -> str:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return str(error["code"])


async def make_key(
    http: AsyncClient, tokens: dict[str, Any], scopes: list[str], **extra: Any
) -> dict[str, Any]:
    made = await http.post(
        "/me/api-keys", json={"name": "notebook", "scopes": scopes, **extra}, headers=bearer(tokens)
    )
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


async def test_a_key_is_shown_once_stored_hashed_listed_and_revoked(
    anon: AsyncClient, database_url: str
) -> None:
    account = await register(anon)
    tokens = account["tokens"]
    made = await make_key(anon, tokens, ["read", "llm"])
    key = made["key"]
    assert key.startswith(made["prefix"] + "_") and made["prefix"].startswith("tmm_")
    assert len(key) >= 50 and made["scopes"] == ["read", "llm"] and made["expires_at"] is None

    # At rest: the SHA-256 of the key, and nothing from which the key could be read back.
    stored = rows(database_url, "SELECT * FROM api_keys")
    assert len(stored) == 1
    assert bytes(stored[0]["key_sha256"]) == hashlib.sha256(key.encode()).digest()
    secret = key.removeprefix(made["prefix"] + "_")
    for value in stored[0].values():
        assert secret not in str(value) and key not in str(value)

    me = await anon.get("/me", headers=key_auth(key))  # the key acts as its owner
    assert me.status_code == 200 and me.json()["id"] == account["user"]["id"]
    listed = (await anon.get("/me/api-keys", headers=bearer(tokens))).json()
    assert [k["id"] for k in listed] == [made["id"]]
    assert "key" not in listed[0] and key not in str(listed)
    assert listed[0]["last_used_at"] is not None  # the GET /me above

    revoked = await anon.delete(f"/me/api-keys/{made['id']}", headers=bearer(tokens))
    assert revoked.status_code == 204
    assert code(await anon.get("/me", headers=key_auth(key)), 401) == "api_key_revoked"
    assert (await anon.get("/me/api-keys", headers=bearer(tokens))).json() == []
    again = await anon.delete(f"/me/api-keys/{made['id']}", headers=bearer(tokens))
    assert code(again, 404) == "api_key_not_found"


async def test_scopes_are_enforced(anon: AsyncClient) -> None:
    tokens = (await register(anon))["tokens"]
    read = (await make_key(anon, tokens, ["read"]))["key"]
    write = (await make_key(anon, tokens, ["write"]))["key"]
    llm = (await make_key(anon, tokens, ["llm"]))["key"]

    assert (await anon.get("/me/subscriptions", headers=key_auth(read))).status_code == 200
    refused = await anon.post("/playlists", json={"title": "Mine"}, headers=key_auth(read))
    assert code(refused, 403) == "insufficient_scope"
    assert refused.json()["error"]["details"] == {"required": "write", "scopes": ["read"]}
    assert code(await anon.delete(f"/me/subscriptions/{PODCAST}", headers=key_auth(read)), 403)

    made = await anon.post("/playlists", json={"title": "Mine"}, headers=key_auth(write))
    assert made.status_code == 201, made.text
    assert code(await anon.get("/me", headers=key_auth(write)), 403) == "insufficient_scope"
    assert code(await anon.get("/me", headers=key_auth(llm)), 403) == "insufficient_scope"

    # The LLM route: a key with the llm scope, nothing else (no LLM here: 503 once past).
    models = "/llm/v1/models"
    assert code(await anon.get(models), 401) == "not_authenticated"
    assert code(await anon.get(models, headers=bearer(tokens)), 403) == "api_key_required"
    assert code(await anon.get(models, headers=key_auth(read)), 403) == "insufficient_scope"
    assert code(await anon.get(models, headers=key_auth(llm)), 503) == "llm_unavailable"


async def test_a_key_cannot_make_keys_or_manage_the_account(anon: AsyncClient) -> None:
    tokens = (await register(anon))["tokens"]
    made = await make_key(anon, tokens, ["read", "write", "llm"])
    key = key_auth(made["key"])
    password = {"password": "correct horse battery"}
    attempts = [
        ("POST", "/me/api-keys", {"name": "successor", "scopes": ["read", "write", "llm"]}),
        ("GET", "/me/api-keys", None),
        ("DELETE", f"/me/api-keys/{made['id']}", None),
        ("POST", "/me/password",
         {"current_password": "correct horse battery", "new_password": "another horse battery"}),
        ("PATCH", "/me", {"display_name": "Someone else"}),
        ("GET", "/me/sessions", None),
        ("DELETE", f"/me/sessions/{tokens['session_id']}", None),
        ("GET", "/me/export", None),
        ("POST", "/auth/logout", None),
        ("DELETE", "/me", password),
    ]  # fmt: skip
    for method, path, body in attempts:
        response = await anon.request(method, path, json=body, headers=key)
        assert code(response, 403) == "session_required", (method, path)
    # Nothing of the account changed, and the key still works.
    assert len((await anon.get("/me/api-keys", headers=bearer(tokens))).json()) == 1
    assert (await anon.get("/me", headers=bearer(tokens))).json()["display_name"] is None
    assert (await anon.get("/me", headers=key)).status_code == 200


async def test_expired_forged_and_unknown_keys_are_401(settings: Settings, clean_db: None) -> None:
    clock = FakeClock()
    async with serve(settings, clock=clock) as http:
        tokens = (await register(http))["tokens"]
        past = (clock.now - timedelta(seconds=1)).isoformat()
        refused = await http.post(
            "/me/api-keys", json={"name": "x", "scopes": ["read"], "expires_at": past},
            headers=bearer(tokens),
        )  # fmt: skip
        assert code(refused, 422) == "expiry_in_past"
        soon = (clock.now + timedelta(hours=1)).isoformat()
        made = await make_key(http, tokens, ["read"], expires_at=soon)
        assert (await http.get("/me", headers=key_auth(made["key"]))).status_code == 200
        clock.advance(minutes=59, seconds=59)
        assert (await http.get("/me", headers=key_auth(made["key"]))).status_code == 200
        clock.advance(seconds=1)
        expired = await http.get("/me", headers=key_auth(made["key"]))
        assert code(expired, 401) == "api_key_expired"
        assert "Bearer" in expired.headers["WWW-Authenticate"]

        forged = made["prefix"] + "_" + "A" * 43
        for key in (forged, "tmm_0123456789ab_" + "B" * 43, "tmm_nonsense", "tmm_"):
            assert code(await http.get("/me", headers=key_auth(key)), 401) == "api_key_invalid"


async def test_a_key_spends_its_owners_rate_limit(settings: Settings, clean_db: None) -> None:
    """Same principal, same budget: the key and the owner's session share the per-user limit
    (not the per-IP one, set high here), and another user's budget is untouched."""
    limited = settings.model_copy(
        update={"rate_limit": RateLimitSettings(per_user_per_minute=6, per_ip_per_minute=1000)}
    )
    async with serve(limited, client_ip="10.9.7.1") as http:  # an address of its own
        tokens = (await register(http))["tokens"]
        other = (await register(http))["tokens"]
        key = key_auth((await make_key(http, tokens, ["read", "llm"]))["key"])  # 1 (the POST)
        statuses = [(await http.get("/me", headers=key)).status_code for _ in range(3)]
        statuses.append((await http.get("/me", headers=bearer(tokens))).status_code)
        statuses.append((await http.get("/llm/v1/models", headers=key)).status_code)
        assert statuses == [200, 200, 200, 200, 503]
        over = await http.get("/me", headers=key)
        assert code(over, 429) == "rate_limited"
        assert over.headers["RateLimit-Remaining"] == "0"
        assert code(await http.get("/llm/v1/models", headers=key), 429) == "rate_limited"
        assert (await http.get("/me", headers=bearer(tokens))).status_code == 429
        assert (await http.get("/me", headers=bearer(other))).status_code == 200


async def test_keys_show_in_the_export_and_go_with_the_account(
    anon: AsyncClient, database_url: str
) -> None:
    account = await register(anon)
    tokens = account["tokens"]
    kept = await make_key(anon, tokens, ["read"])
    gone = await make_key(anon, tokens, ["write"])
    await anon.delete(f"/me/api-keys/{gone['id']}", headers=bearer(tokens))

    exported = (await anon.get("/me/export", headers=bearer(tokens))).json()
    keys = {k["id"]: k for k in exported["api_keys"]}
    assert keys.keys() == {kept["id"], gone["id"]}
    assert keys[kept["id"]]["prefix"] == kept["prefix"] and keys[kept["id"]]["scopes"] == ["read"]
    assert keys[gone["id"]]["revoked_at"] is not None
    assert kept["key"] not in str(exported) and gone["key"] not in str(exported)

    deleted = await anon.request(
        "DELETE", "/me", json={"password": "correct horse battery"}, headers=bearer(tokens)
    )
    assert deleted.status_code == 204
    assert rows(database_url, "SELECT id FROM api_keys") == []
    assert code(await anon.get("/me", headers=key_auth(kept["key"])), 401) == "api_key_invalid"


async def test_a_key_of_another_user_is_not_found(anon: AsyncClient, database_url: str) -> None:
    owner = (await register(anon))["tokens"]
    intruder = (await register(anon))["tokens"]
    made = await make_key(anon, owner, ["read"])
    response = await anon.delete(f"/me/api-keys/{made['id']}", headers=bearer(intruder))
    assert code(response, 404) == "api_key_not_found"
    assert (await anon.get("/me/api-keys", headers=bearer(intruder))).json() == []
    assert (await anon.get("/me", headers=key_auth(made["key"]))).status_code == 200
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT revoked_at FROM api_keys").fetchone() == (None,)
