"""Outgoing email through the production senders: a real SMTP server (aiosmtpd) on 127.0.0.1,
and a real HTTP server on 127.0.0.1 speaking SendGrid's v3 ``mail/send`` format (SendGrid is a
third party we cannot run here; the sender under test is the production one)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage as MimeMessage
from email.parser import BytesParser
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tellmemore.notify import (
    DigestEntry,
    DigestItem,
    EmailError,
    EmailMessage,
    HttpApiSender,
    make_sender,
    render_digest,
)
from tellmemore.settings import EmailSettings
from tests.support.clock import FakeClock

BASE = "https://app.example"
PLAYLIST_ID = "7f1c3d2e-0000-4000-8000-000000000001"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def digest() -> EmailMessage:
    return render_digest(
        EmailSettings(public_base_url=BASE),
        to="ada@example.com",
        display_name="Ada Lovelace",
        entries=[
            DigestEntry(
                playlist_id=PLAYLIST_ID,
                playlist_title="space exploration",
                items=[
                    DigestItem("Orbit & <Beyond>", "Mars, at last", 245, 450, "sample return"),
                    DigestItem("Deep Field", "Hubble's heirs", 3725, 3990, "mirror segments"),
                ],
            )
        ],
    )


# ---------------------------------------------------------------------------------------------
# SMTP


class Mailbox:
    """An aiosmtpd handler that keeps what it accepts and answers as a test tells it."""

    def __init__(self) -> None:
        self.received: list[Envelope] = []
        self.rcpt_reply = "250 OK"
        self.data_reply = "250 Message accepted for delivery"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.rcpt_reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return self.rcpt_reply

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply.startswith("250"):
            self.received.append(envelope)
        return self.data_reply


@dataclass
class SmtpServer:
    mailbox: Mailbox
    port: int
    logins: list[tuple[str, str]] = field(default_factory=list)

    def settings(self, **overrides: Any) -> EmailSettings:
        return EmailSettings(
            backend="smtp",
            smtp_host="127.0.0.1",
            smtp_port=self.port,
            smtp_timeout_s=5.0,
            public_base_url=BASE,
            **overrides,
        )


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on loopback that accepts AUTH PLAIN/LOGIN as tmm / hunter2-hunter2
    (without TLS: there is no certificate to offer here)."""
    server = SmtpServer(Mailbox(), free_port())

    def authenticate(
        smtp: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        server.logins.append((data.login.decode(), data.password.decode()))
        ok = (data.login, data.password) == (b"tmm", b"hunter2-hunter2")
        return AuthResult(success=ok, handled=False)

    controller = Controller(
        server.mailbox,
        hostname="127.0.0.1",
        port=server.port,
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield server
    controller.stop()


def parse(envelope: Envelope) -> MimeMessage:
    assert isinstance(envelope.content, bytes)
    parsed = BytesParser(policy=policy.default).parsebytes(envelope.content)
    assert isinstance(parsed, MimeMessage)
    return parsed


async def test_digest_travels_through_a_real_smtp_server(smtp_server: SmtpServer) -> None:
    message = digest()
    await make_sender(smtp_server.settings()).send(message)

    [envelope] = smtp_server.mailbox.received
    assert envelope.mail_from == "digest@tellmemore.local"
    assert envelope.rcpt_tos == ["ada@example.com"]
    received = parse(envelope)
    assert received["From"] == "Tell Me More <digest@tellmemore.local>"
    assert received["To"] == "Ada Lovelace <ada@example.com>"
    # Curly quotes go out as an RFC 2047 encoded word and come back intact.
    assert received["Subject"] == "2 new moments for “space exploration”"
    assert received["List-Unsubscribe"] == f"<{BASE}/settings/notifications>"
    sent_at = parsedate_to_datetime(received["Date"])
    assert abs(sent_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert received["Message-ID"].startswith("<")
    assert received["Message-ID"].endswith("@tellmemore.local>")

    assert received.get_content_type() == "multipart/alternative"
    text_part, html_part = received.iter_parts()
    assert isinstance(text_part, MimeMessage) and isinstance(html_part, MimeMessage)
    assert text_part.get_content_type() == "text/plain"
    assert html_part.get_content_type() == "text/html"
    text, html = text_part.get_content(), html_part.get_content()
    link = f"{BASE}/playlists/{PLAYLIST_ID}"
    assert link in text
    assert "Orbit & <Beyond>: Mars, at last" in text
    assert "[04:05\u201307:30]" in text and "[1:02:05\u20131:06:30]" in text
    assert f'<a href="{link}">“space exploration”</a>' in html
    assert "<strong>Orbit &amp; &lt;Beyond&gt;</strong>" in html
    assert "<Beyond>" not in html
    assert f'<a href="{BASE}/settings/notifications">' in html


async def test_smtp_login(smtp_server: SmtpServer) -> None:
    settings = smtp_server.settings(smtp_username="tmm", smtp_password="hunter2-hunter2")
    await make_sender(settings).send(digest())
    assert smtp_server.logins == [("tmm", "hunter2-hunter2")]
    assert len(smtp_server.mailbox.received) == 1

    wrong = smtp_server.settings(smtp_username="tmm", smtp_password="guess")
    with pytest.raises(EmailError) as caught:
        await make_sender(wrong).send(digest())
    assert caught.value.code == "email_auth_failed"
    assert not caught.value.retryable
    assert len(smtp_server.mailbox.received) == 1


@pytest.mark.parametrize(
    ("stage", "reply", "code", "retryable"),
    [
        ("data", "550 5.7.1 Message rejected as spam", "email_rejected", False),
        ("data", "451 4.3.0 Mailbox busy, try again", "email_deferred", True),
        ("rcpt", "550 5.1.1 No such user here", "email_rejected", False),
        ("rcpt", "450 4.2.1 Greylisted, come back later", "email_deferred", True),
    ],
)
async def test_smtp_replies_decide_retryable(
    smtp_server: SmtpServer, stage: str, reply: str, code: str, retryable: bool
) -> None:
    if stage == "data":
        smtp_server.mailbox.data_reply = reply
    else:
        smtp_server.mailbox.rcpt_reply = reply
    with pytest.raises(EmailError) as caught:
        await make_sender(smtp_server.settings()).send(digest())
    error = caught.value
    assert (error.code, error.retryable) == (code, retryable)
    assert error.details["smtp_code"] == int(reply[:3])
    assert reply[4:] in error.message
    assert smtp_server.mailbox.received == []


async def test_refused_connection_is_retryable() -> None:
    settings = EmailSettings(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_timeout_s=2.0)
    with pytest.raises(EmailError) as caught:
        await make_sender(settings).send(digest())
    assert caught.value.code == "email_unreachable"
    assert caught.value.retryable


async def test_starttls_the_server_does_not_offer_is_permanent(smtp_server: SmtpServer) -> None:
    with pytest.raises(EmailError) as caught:
        await make_sender(smtp_server.settings(smtp_starttls=True)).send(digest())
    assert caught.value.code == "email_not_supported"
    assert not caught.value.retryable
    assert smtp_server.mailbox.received == []


# ---------------------------------------------------------------------------------------------
# A provider's HTTP API (SendGrid v3)


@dataclass(frozen=True)
class Posted:
    path: str
    headers: dict[str, str]
    body: Any


class MailApi:
    """A real HTTP server on loopback answering ``POST /v3/mail/send`` as a test tells it."""

    def __init__(self) -> None:
        self.posted: list[Posted] = []
        self.status = 202
        self.reply = b""
        self.reply_headers: dict[str, str] = {}
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                api.posted.append(Posted(self.path, headers, json.loads(raw)))
                self.send_response(api.status)
                for name, value in {
                    "Content-Type": "application/json",
                    **api.reply_headers,
                }.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(api.reply)))
                self.end_headers()
                self.wfile.write(api.reply)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v3/mail/send"

    def settings(self) -> EmailSettings:
        return EmailSettings(
            backend="http",
            http_url=self.url,
            http_api_key="SG.test-key",
            http_timeout_s=5.0,
            public_base_url=BASE,
        )

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def mail_api() -> Iterator[MailApi]:
    api = MailApi()
    yield api
    api.stop()


async def test_http_api_posts_sendgrid_json(mail_api: MailApi) -> None:
    message = digest()
    async with httpx.AsyncClient() as http:
        await make_sender(mail_api.settings(), http).send(message)
    # Without a shared client the sender opens its own.
    await make_sender(mail_api.settings()).send(message)

    first, second = mail_api.posted
    assert first == second
    assert first.path == "/v3/mail/send"
    assert first.headers["authorization"] == "Bearer SG.test-key"
    assert first.headers["content-type"] == "application/json"
    assert first.body == {
        "personalizations": [{"to": [{"email": "ada@example.com", "name": "Ada Lovelace"}]}],
        "from": {"email": "digest@tellmemore.local", "name": "Tell Me More"},
        "subject": "2 new moments for “space exploration”",
        "content": [
            {"type": "text/plain", "value": message.text},
            {"type": "text/html", "value": message.html},
        ],
        "headers": {"List-Unsubscribe": f"<{BASE}/settings/notifications>"},
    }
    assert f"{BASE}/playlists/{PLAYLIST_ID}" in first.body["content"][1]["value"]


async def test_http_429_is_retryable_with_the_providers_delay(mail_api: MailApi) -> None:
    mail_api.status, mail_api.reply_headers = 429, {"Retry-After": "30"}
    mail_api.reply = b'{"errors":[{"message":"too many requests"}]}'
    with pytest.raises(EmailError) as caught:
        await make_sender(mail_api.settings()).send(digest())
    error = caught.value
    assert (error.code, error.retryable, error.retry_after_s) == ("email_throttled", True, 30)
    assert "too many requests" in error.message and "30 seconds" in error.message

    # Retry-After may also be an HTTP date.
    clock = FakeClock(datetime(2030, 5, 1, 12, 0, tzinfo=UTC))
    mail_api.reply_headers = {"Retry-After": format_datetime(clock.now + timedelta(seconds=90))}
    with pytest.raises(EmailError) as caught:
        await HttpApiSender(mail_api.settings(), clock=clock).send(digest())
    assert caught.value.retry_after_s == 90


async def test_http_5xx_is_retryable(mail_api: MailApi) -> None:
    mail_api.status, mail_api.reply = 503, b"upstream overloaded"
    with pytest.raises(EmailError) as caught:
        await make_sender(mail_api.settings()).send(digest())
    assert (caught.value.code, caught.value.retryable) == ("email_provider_failed", True)
    assert caught.value.retry_after_s is None
    assert caught.value.details == {"upstream_status": 503}


async def test_http_400_is_permanent_with_the_providers_message(mail_api: MailApi) -> None:
    mail_api.status = 400
    mail_api.reply = json.dumps(
        {
            "errors": [
                {"message": "The from address does not match a verified Sender Identity."},
                {"message": "Invalid header."},
            ]
        }
    ).encode()
    with pytest.raises(EmailError) as caught:
        await make_sender(mail_api.settings()).send(digest())
    error = caught.value
    assert (error.code, error.retryable) == ("email_provider_rejected", False)
    assert error.message.endswith(
        "The from address does not match a verified Sender Identity.; Invalid header."
    )
    assert error.details == {"upstream_status": 400}


async def test_http_unreachable_is_retryable() -> None:
    settings = EmailSettings(
        backend="http", http_url=f"http://127.0.0.1:{free_port()}/v3/mail/send", http_api_key="k"
    )
    with pytest.raises(EmailError) as caught:
        await make_sender(settings).send(digest())
    assert (caught.value.code, caught.value.retryable) == ("email_unreachable", True)


async def test_misconfiguration_is_refused_up_front() -> None:
    with pytest.raises(EmailError) as caught:
        make_sender(EmailSettings(backend="http"))
    assert caught.value.code == "email_not_configured"
    with pytest.raises(EmailError) as caught:
        make_sender(EmailSettings(smtp_username="tmm"))
    assert caught.value.code == "email_not_configured"
    with pytest.raises(EmailError) as caught:
        await make_sender(EmailSettings(backend="disabled")).send(digest())
    assert (caught.value.code, caught.value.retryable) == ("email_disabled", False)
