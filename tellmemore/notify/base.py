"""The one interface every way of sending email implements and its error (the factory that picks
the configured backend is :mod:`tellmemore.notify.senders`).

Callers (the digest job) depend on :class:`EmailSender` only, so SMTP, a provider's HTTP API and
a test double are interchangeable; :class:`EmailError` tells them whether trying again later
could help.
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any, Protocol

from tellmemore.errors import CatalogError, ErrorKind
from tellmemore.notify.message import EmailMessage
from tellmemore.settings import EmailSettings


class EmailSender(Protocol):
    """Delivers one message or raises :class:`EmailError`."""

    async def send(self, message: EmailMessage) -> None: ...


class EmailError(CatalogError):
    """Sending failed. ``retryable`` says whether the same message may succeed later (a 4xx SMTP
    reply, a refused connection, HTTP 429/5xx) or never will as it stands (a 5xx SMTP reply, a
    rejected request, missing configuration); ``retry_after_s`` carries the provider's hint."""

    def __init__(
        self,
        code: str,
        message: str,
        retryable: bool,
        *,
        retry_after_s: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        kind = (
            ErrorKind.UPSTREAM_THROTTLED if retry_after_s is not None else ErrorKind.UPSTREAM_FAILED
        )
        super().__init__(code, message, kind, details=details, retry_after_s=retry_after_s)
        self.retryable = retryable

    def __repr__(self) -> str:
        return f"EmailError({self.code!r}, {self.message!r}, retryable={self.retryable})"


class DisabledSender:
    """``email.backend = "disabled"``: every send fails plainly, so nothing is marked as sent
    that never left."""

    async def send(self, message: EmailMessage) -> None:
        raise EmailError(
            "email_disabled", "Outgoing email is turned off (email.backend=disabled).", False
        )


def sender_address(settings: EmailSettings) -> tuple[str, str]:
    """``(display name, address)`` of ``settings.sender``; refuses a sender with no address."""
    name, address = parseaddr(settings.sender)
    if "@" not in address:
        raise EmailError(
            "email_not_configured",
            f"email.sender {settings.sender!r} has no usable address.",
            False,
        )
    return name, address
