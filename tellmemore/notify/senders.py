"""Picking the configured email backend (``EmailSettings.backend``) behind :class:`EmailSender`."""

from __future__ import annotations

import httpx

from tellmemore.notify.base import DisabledSender, EmailSender
from tellmemore.notify.http_api import HttpApiSender
from tellmemore.notify.smtp import SmtpSender
from tellmemore.settings import EmailSettings


def make_sender(settings: EmailSettings, http: httpx.AsyncClient | None = None) -> EmailSender:
    """The sender ``settings.backend`` names. ``http`` is used by the HTTP API backend when
    given (the caller owns and closes it); without it each send opens its own client.
    Misconfiguration is refused here, at start-up, rather than on the first digest."""
    if settings.backend == "smtp":
        return SmtpSender(settings)
    if settings.backend == "http":
        return HttpApiSender(settings, http)
    return DisabledSender()
