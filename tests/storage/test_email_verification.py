"""Email verification before a new account's feeds are processed.

Signing up mails a link (through the production SMTP sender, to a real SMTP server on
loopback); until it is followed the account can subscribe, but nothing is queued for
processing, neither on subscribing nor when its podcast's feed is refreshed. Following the link
queues what was waiting.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote
from uuid import UUID

from httpx import AsyncClient

from tellmemore.accounts import VerificationTokens
from tellmemore.settings import AuthSettings, Settings
from tests.conftest import bearer, register, serve
from tests.storage.helpers import rows
from tests.storage.test_email import SmtpServer, parse, smtp_server  # noqa: F401 (fixture)
from tests.support.http_server import LoopbackHTTPServer
from tests.support.secrets import TEST_SECRET

_LINK = re.compile(r"https?://\S+/verify-email\?token=(\S+)")


def _requiring(settings: Settings, smtp: SmtpServer) -> Settings:
    auth = settings.auth.model_copy(update={"require_email_verification": True})
    return settings.model_copy(update={"auth": auth, "email": smtp.settings()})


def _mailed_token(smtp: SmtpServer, to: str) -> str:
    mails = [parse(e) for e in smtp.mailbox.received if to in e.rcpt_tos]
    assert len(mails) == 1, f"expected one email to {to}, got {len(mails)}"
    body = mails[-1].get_body(preferencelist=("plain",))
    assert body is not None
    found = _LINK.search(body.get_content())
    assert found, body.get_content()
    return unquote(found.group(1))


def _feed(episodes: int) -> bytes:
    items = "".join(
        f"<item><title>Episode {n}</title><guid>growing-{n}</guid>"
        f"<pubDate>Tue, {10 + n} Nov 2026 10:00:00 GMT</pubDate>"
        f'<enclosure url="https://media.example.org/growing/{n}.mp3" length="1000" '
        f'type="audio/mpeg"/></item>'
        for n in range(1, episodes + 1)
    )
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Growing</title>'
            f"{items}</channel></rss>").encode()  # fmt: skip


def _jobs(database_url: str, podcast_id: str) -> int:
    return len(rows(database_url,
                    "SELECT 1 FROM jobs j JOIN episodes e ON e.id::text = j.key "
                    "WHERE e.podcast_id = %s", podcast_id))  # fmt: skip


async def _sign_up(http: AsyncClient) -> tuple[dict[str, str], dict[str, Any]]:
    account = await register(http)
    return bearer(account["tokens"]), account["user"]


async def test_subscriptions_wait_for_the_mailed_link(
    settings: Settings,
    feeds: LoopbackHTTPServer,
    smtp_server: SmtpServer,  # noqa: F811
    database_url: str,
    clean_db: None,
) -> None:
    async with serve(_requiring(settings, smtp_server)) as http:
        headers, user = await _sign_up(http)
        assert user["email_verified_at"] is None
        token = _mailed_token(smtp_server, user["email"])

        feeds.add("/feeds/growing.xml", body=_feed(1), content_type="application/rss+xml")
        added = await http.post("/podcasts", headers=headers,
                                json={"feed_url": feeds.url("/feeds/growing.xml")})  # fmt: skip
        assert added.status_code == 201, added.text
        podcast_id = added.json()["podcast"]["id"]
        assert _jobs(database_url, podcast_id) == 0  # subscribed, nothing queued
        # A refresh that finds a new episode queues nothing either.
        feeds.add("/feeds/growing.xml", body=_feed(2), content_type="application/rss+xml")
        refreshed = await http.post(f"/podcasts/{podcast_id}/refresh", headers=headers)
        assert refreshed.status_code == 200 and refreshed.json()["added"] == 1, refreshed.text
        assert _jobs(database_url, podcast_id) == 0

        verified = await http.post("/auth/verify-email", json={"token": token})
        assert verified.status_code == 200, verified.text
        queued = verified.json()["queued_episodes"]
        assert queued == 2 and _jobs(database_url, podcast_id) == queued
        me = (await http.get("/me", headers=headers)).json()
        assert me["email_verified_at"] is not None

        again = await http.post("/auth/verify-email", json={"token": token})
        assert again.status_code == 200 and again.json()["queued_episodes"] == 0
        # A verified account has nothing more to ask for.
        resend = await http.post("/me/verify-email", headers=headers)
        assert resend.status_code == 409 and resend.json()["error"]["code"] == "already_verified"


async def test_a_verified_subscriber_is_enough_for_a_shared_podcast(
    settings: Settings,
    feeds: LoopbackHTTPServer,
    smtp_server: SmtpServer,  # noqa: F811
    database_url: str,
    clean_db: None,
) -> None:
    async with serve(_requiring(settings, smtp_server)) as http:
        first, _ = await _sign_up(http)
        added = await http.post("/podcasts", headers=first,
                                json={"feed_url": feeds.url("/feeds/basic.xml")})  # fmt: skip
        podcast_id = added.json()["podcast"]["id"]
        assert _jobs(database_url, podcast_id) == 0

        second, second_user = await _sign_up(http)
        token = _mailed_token(smtp_server, second_user["email"])
        assert (await http.post("/auth/verify-email", json={"token": token})).status_code == 200
        subscribed = await http.post("/podcasts", headers=second,
                                     json={"feed_url": feeds.url("/feeds/basic.xml")})  # fmt: skip
        assert subscribed.status_code in (200, 201), subscribed.text
        assert _jobs(database_url, podcast_id) > 0


async def test_links_that_prove_nothing_are_refused(
    settings: Settings,
    smtp_server: SmtpServer,  # noqa: F811
    clean_db: None,
) -> None:
    async with serve(_requiring(settings, smtp_server)) as http:
        headers, user = await _sign_up(http)
        token = _mailed_token(smtp_server, user["email"])
        tokens = VerificationTokens(TEST_SECRET, settings.auth.jwt_issuer, 3600)
        now = datetime.now(UTC)
        refused = {
            "garbage": "not-a-token-at-all-but-long-enough",
            "an access token": headers["Authorization"].removeprefix("Bearer "),
            "expired": tokens.issue(UUID(user["id"]), user["email"], now - timedelta(hours=2)),
            "another key": VerificationTokens("x" * 40, settings.auth.jwt_issuer, 3600).issue(
                UUID(user["id"]), user["email"], now
            ),
        }
        for what, bad in refused.items():
            answer = await http.post("/auth/verify-email", json={"token": bad})
            assert answer.status_code == 422, (what, answer.text)
            assert answer.json()["error"]["code"] == "verification_invalid", what

        # Changing the address makes the old link worthless and mails a new one.
        new_email = f"moved-{user['email']}"
        changed = await http.patch("/me", headers=headers, json={
            "email": new_email, "current_password": "correct horse battery"})  # fmt: skip
        assert changed.status_code == 200, changed.text
        old = await http.post("/auth/verify-email", json={"token": token})
        assert old.status_code == 422, old.text
        fresh = _mailed_token(smtp_server, new_email)
        assert (await http.post("/auth/verify-email", json={"token": fresh})).status_code == 200


async def test_asking_for_links_is_limited(
    settings: Settings,
    smtp_server: SmtpServer,  # noqa: F811
    clean_db: None,
) -> None:
    async with serve(_requiring(settings, smtp_server)) as http:
        headers, user = await _sign_up(http)
        answers = [(await http.post("/me/verify-email", headers=headers)).status_code
                   for _ in range(6)]  # fmt: skip
        assert answers == [202] * 5 + [429], answers
        mailed = [e for e in smtp_server.mailbox.received if user["email"] in e.rcpt_tos]
        assert len(mailed) == 6  # the sign-up's and five more


def test_the_server_requires_verification_by_default() -> None:
    assert AuthSettings().require_email_verification
