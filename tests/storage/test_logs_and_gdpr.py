"""Logs never hold secrets; GDPR export returns everything and delete leaves nothing."""

from __future__ import annotations

import io
import logging
from typing import Any

import psycopg
import pytest
import redis
from httpx import AsyncClient

from tellmemore.logs import JsonFormatter, RedactingFilter
from tellmemore.settings import RateLimitSettings, Settings
from tests.conftest import bearer, register, serve
from tests.support.http_server import LoopbackHTTPServer

EMAIL = "Secret.Person@Example.org"
PASSWORD = "hunter2 but much longer"
NEW_PASSWORD = "an even longer passphrase"


async def test_no_secret_reaches_the_logs(
    anon: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    registered = await anon.post("/auth/register", json={"email": EMAIL, "password": PASSWORD})
    tokens = registered.json()["tokens"]
    await anon.post("/auth/login", json={"email": EMAIL, "password": "wrong " + PASSWORD})
    login = (await anon.post("/auth/login", json={"email": EMAIL, "password": PASSWORD})).json()
    refreshed = (
        await anon.post("/auth/refresh", json={"refresh_token": login["refresh_token"]})
    ).json()
    await anon.post("/auth/refresh", json={"refresh_token": login["refresh_token"]})  # reuse
    await anon.post(
        "/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(tokens),
    )
    await anon.get("/me", headers={"Authorization": "Bearer " + tokens["access_token"] + "x"})
    made = await anon.post(
        "/playlists", json={"title": "Mine", "visibility": "unlisted"}, headers=bearer(tokens)
    )
    assert made.status_code == 201, made.text
    share_token = made.json()["share_token"]
    assert (await anon.get(f"/shared/playlists/{share_token}")).status_code == 200
    assert len(caplog.records) >= 8

    secrets = [
        PASSWORD, NEW_PASSWORD, EMAIL, EMAIL.lower(), "Secret.Person",
        tokens["access_token"], tokens["refresh_token"],
        login["access_token"], login["refresh_token"],
        refreshed["access_token"], refreshed["refresh_token"], share_token,
    ]  # fmt: skip
    # What the code itself logged (raw records, before any redaction) ...
    # (the test client's own httpx lines are left out: they show the URLs this test requested)
    records = [r for r in caplog.records if r.name != "httpx"]
    raw = "\n".join(f"{r.getMessage()} {vars(r)}" for r in records)
    # ... and what our production handler writes.
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter())
    for record in records:
        handler.handle(logging.makeLogRecord(vars(record)))
    written = stream.getvalue()
    for secret in secrets:
        assert secret not in raw, secret
        assert secret not in written, secret
    assert "S***@e***.org" in raw  # masked, yet accounts can be told apart
    assert '"msg": "login succeeded"' in written


def _referencing(database_url: str, needles: list[str]) -> list[str]:
    """Every (table, column) in the public schema holding any of ``needles``."""
    found = []
    with psycopg.connect(database_url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type IN ('uuid', 'text')"
        ).fetchall()
        for table, column in columns:
            query = psycopg.sql.SQL("SELECT count(*) FROM {} WHERE {}::text = ANY(%s)").format(
                psycopg.sql.Identifier(table), psycopg.sql.Identifier(column)
            )
            row = conn.execute(query, (needles,)).fetchone()
            if row and row[0]:
                found.append(f"{table}.{column}")
    return found


async def test_gdpr_export_and_delete(
    settings: Settings, clean_db: None, feeds: LoopbackHTTPServer, database_url: str
) -> None:
    # Real rate limits, so Redis holds counters keyed by the user.
    limited = settings.model_copy(update={"rate_limit": RateLimitSettings()})
    async with serve(limited, client_ip="10.7.0.1") as http:
        account = await register(http, "leaving@example.com")
        user_id = account["user"]["id"]
        tokens = account["tokens"]
        other = (await register(http, "staying@example.com"))["tokens"]
        phone = (
            await http.post(
                "/auth/login",
                json={"email": "leaving@example.com", "password": "correct horse battery"},
                headers={"User-Agent": "PodPhone/2.1"},
            )
        ).json()
        added = await http.post(
            "/podcasts", json={"feed_url": feeds.url("/feeds/basic.xml")}, headers=bearer(tokens)
        )
        podcast_id = added.json()["podcast"]["id"]
        await http.put(f"/me/subscriptions/{podcast_id}", headers=bearer(other))
        episodes = (await http.get(f"/podcasts/{podcast_id}/episodes")).json()["items"]
        playlist = (
            await http.post("/playlists", json={"title": "Road trip"}, headers=bearer(tokens))
        ).json()
        await http.post(
            f"/playlists/{playlist['id']}/items",
            json={"episode_id": episodes[0]["id"], "note": "start here"},
            headers=bearer(tokens),
        )
        await http.post(
            "/me/history", json={"episode_id": episodes[0]["id"]}, headers=bearer(tokens)
        )
        await http.put("/me/notifications", json={"email_digest": True}, headers=bearer(tokens))

        exported = (await http.get("/me/export", headers=bearer(tokens))).json()
        assert [p["title"] for p in exported["playlists"]] == ["Road trip"]
        assert exported["playlists"][0]["items"][0]["note"] == "start here"
        assert [h["episode_id"] for h in exported["listening_history"]] == [episodes[0]["id"]]
        assert exported["notifications"] == {"email_digest": True}
        assert exported["account"]["email"] == "leaving@example.com"
        assert exported["account"]["id"] == user_id
        assert {s["id"] for s in exported["sessions"]} == {
            tokens["session_id"],
            phone["session_id"],
        }
        assert "PodPhone/2.1" in [s["user_agent"] for s in exported["sessions"]]
        assert [s["podcast_id"] for s in exported["subscriptions"]] == [podcast_id]
        assert "$2b$" not in str(exported)  # no password hash, even of our own

        store = redis.Redis.from_url(limited.redis.url)

        def keys() -> list[str]:
            return [k.decode() for k in store.scan_iter(match=limited.redis.key_prefix + "*")]

        assert any(user_id in k for k in keys())

        wrong = await http.request(
            "DELETE", "/me", json={"password": "not my password"}, headers=bearer(tokens)
        )
        assert wrong.status_code == 403
        deleted = await http.request(
            "DELETE", "/me", json={"password": "correct horse battery"}, headers=bearer(tokens)
        )
        assert deleted.status_code == 204

        needles: list[Any] = [user_id, tokens["session_id"], phone["session_id"],
                              "leaving@example.com", playlist["id"], "start here"]  # fmt: skip
        assert _referencing(database_url, needles) == []
        assert [k for k in keys() if user_id in k] == []
        store.close()
        # The account is gone for every session; the other user and the podcast remain.
        assert (await http.get("/me", headers=bearer(phone))).status_code == 401
        relog = await http.post(
            "/auth/login",
            json={"email": "leaving@example.com", "password": "correct horse battery"},
        )
        assert relog.status_code == 401
        mine = (await http.get("/me/subscriptions", headers=bearer(other))).json()
        assert [s["podcast_id"] for s in mine] == [podcast_id]
