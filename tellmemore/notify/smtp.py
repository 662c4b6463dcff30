"""Sending through an SMTP server (a local relay, or a provider's submission port).

``smtplib`` is blocking, so each send runs in a worker thread. The reply codes decide what the
caller sees: 4xx (greylisting, a full queue) and network failures may pass if tried later; 5xx
will not, and is reported as such so the message is not retried forever.
"""

from __future__ import annotations

import asyncio
import email.message
import smtplib
import ssl
from email.utils import formataddr, formatdate, make_msgid

from tellmemore.notify.base import EmailError, sender_address
from tellmemore.notify.message import EmailMessage
from tellmemore.settings import EmailSettings

_MAX_REPLY_CHARS = 300


class SmtpSender:
    """One SMTP connection per message: digests go out a few at a time, and a fresh connection
    never trips over a server that closed an idle one."""

    def __init__(self, settings: EmailSettings) -> None:
        self._settings = settings
        self._from_name, self._from_address = sender_address(settings)
        if (settings.smtp_username is None) != (settings.smtp_password is None):
            raise EmailError(
                "email_not_configured",
                "email.smtp_username and email.smtp_password must be set together.",
                False,
            )

    async def send(self, message: EmailMessage) -> None:
        mime = build_mime(message, self._settings.sender, self._from_address)
        await asyncio.to_thread(self._send_blocking, mime, message.to)

    def _send_blocking(self, mime: email.message.EmailMessage, to: str) -> None:
        s = self._settings
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s) as smtp:
                if s.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.smtp_username is not None and s.smtp_password is not None:
                    smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
                smtp.send_message(mime, from_addr=self._from_address, to_addrs=[to])
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise _reply_error(code, reply, "refused the recipient") from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise EmailError(
                "email_not_supported",
                f"The SMTP server cannot do what the settings ask ({exc}); check "
                "email.smtp_starttls and email.smtp_username.",
                False,
            ) from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise EmailError(
                "email_auth_failed",
                f"The SMTP server refused our login: {_reply_text(exc.smtp_error)}",
                False,
                details={"smtp_code": exc.smtp_code},
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise _reply_error(exc.smtp_code, exc.smtp_error, "refused the message") from exc
        except smtplib.SMTPServerDisconnected as exc:
            raise _unreachable(s, f"it closed the connection ({exc})") from exc
        except ssl.SSLCertVerificationError as exc:
            # A certificate that does not verify will not verify on the next try either.
            raise EmailError(
                "email_tls_failed",
                f"The SMTP server's TLS certificate was not accepted: {exc.verify_message}.",
                False,
            ) from exc
        except smtplib.SMTPException as exc:  # before OSError, which it subclasses
            raise EmailError("email_failed", f"Sending by SMTP failed: {exc}", True) from exc
        except OSError as exc:  # refused, reset, timed out, DNS: the network may come back
            raise _unreachable(s, type(exc).__name__ + (f": {exc}" if str(exc) else "")) from exc


def build_mime(message: EmailMessage, sender: str, from_address: str) -> email.message.EmailMessage:
    """The RFC 5322 message: multipart/alternative (text, then HTML) when there is HTML, with
    From, To, Subject, Date and a Message-ID in the sender's domain."""
    mime = email.message.EmailMessage()
    mime["From"] = sender
    mime["To"] = formataddr((message.to_name, message.to)) if message.to_name else message.to
    mime["Subject"] = message.subject
    mime["Date"] = formatdate(usegmt=True)
    # The sender's domain, not the host's: make_msgid would otherwise look up this host's FQDN.
    mime["Message-ID"] = make_msgid(domain=from_address.rpartition("@")[2])
    for name, value in message.headers.items():
        mime[name] = value
    # Quoted-printable keeps mostly-ASCII bodies readable (and less suspect to spam filters)
    # where the default would pick base64 for any non-ASCII character.
    mime.set_content(message.text, cte="quoted-printable")
    if message.html is not None:
        mime.add_alternative(message.html, subtype="html", cte="quoted-printable")
    return mime


def _reply_text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    text = " ".join(text.split())
    return text if len(text) <= _MAX_REPLY_CHARS else text[: _MAX_REPLY_CHARS - 1] + "…"


def _reply_error(code: int, reply: bytes | str, what: str) -> EmailError:
    text = _reply_text(reply)
    if 400 <= code < 500:
        return EmailError(
            "email_deferred",
            f"The SMTP server {what} for now ({code} {text}); try again later.",
            True,
            details={"smtp_code": code},
        )
    if code >= 500:
        return EmailError(
            "email_rejected",
            f"The SMTP server {what} ({code} {text}).",
            False,
            details={"smtp_code": code},
        )
    # smtplib reports an unexpected connection loss as code -1.
    return EmailError(
        "email_failed",
        f"The SMTP server {what} with an unexpected reply ({code} {text}).",
        True,
        details={"smtp_code": code},
    )


def _unreachable(settings: EmailSettings, why: str) -> EmailError:
    return EmailError(
        "email_unreachable",
        f"The SMTP server {settings.smtp_host}:{settings.smtp_port} could not be reached ({why}).",
        True,
    )
