"""Outgoing email behind one interface (:class:`EmailSender`): SMTP or a provider's HTTP API,
picked by ``EmailSettings.backend``, and the topic-playlist digest those senders deliver."""

from tellmemore.notify.base import EmailError, EmailSender
from tellmemore.notify.http_api import HttpApiSender, make_email_http_client
from tellmemore.notify.message import EmailMessage
from tellmemore.notify.render import (
    DigestEntry,
    DigestItem,
    digest_subject,
    format_timestamp,
    render_digest,
)
from tellmemore.notify.senders import make_sender
from tellmemore.notify.service import Digests
from tellmemore.notify.verify_email import render_verification, send_verification

__all__ = [
    "DigestEntry",
    "DigestItem",
    "Digests",
    "EmailError",
    "EmailMessage",
    "EmailSender",
    "HttpApiSender",
    "digest_subject",
    "format_timestamp",
    "make_email_http_client",
    "make_sender",
    "render_digest",
    "render_verification",
    "send_verification",
]
