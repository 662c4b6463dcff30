"""Outgoing email behind one interface (:class:`EmailSender`): SMTP or a provider's HTTP API,
picked by ``EmailSettings.backend``, and the topic-playlist digest those senders deliver."""

from core.email.digest import DigestEntry, DigestItem, format_timestamp, render_digest
from core.email.message import EmailMessage
from core.email.sender import EmailError, EmailSender, make_sender

__all__ = [
    "DigestEntry",
    "DigestItem",
    "EmailError",
    "EmailMessage",
    "EmailSender",
    "format_timestamp",
    "make_sender",
    "render_digest",
]
