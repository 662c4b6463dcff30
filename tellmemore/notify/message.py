"""One outgoing email, independent of how it is delivered.

Senders (SMTP, a provider's HTTP API) turn an :class:`EmailMessage` into their own wire format;
the message is checked once here so that no sender can be tricked into header injection by a
subject or address that carries a line break.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# RFC 5322 field names: printable ASCII except the colon.
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")
# A plain addr-spec is all a recipient may be here; display names travel in ``to_name``.
_ADDRESS = re.compile(r"^[^\s@<>,;\"]+@[^\s@<>,;\"]+\.[^\s@<>,;\"]+$")
# Set by the senders themselves (or by the provider); a caller's copy would clash.
RESERVED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "reply-to",
        "sender",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)


@dataclass(frozen=True)
class EmailMessage:
    """What to send to whom: a plain-text body always, an HTML alternative when given, and
    extra headers such as ``List-Unsubscribe``."""

    to: str
    subject: str
    text: str
    html: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    to_name: str | None = None

    def __post_init__(self) -> None:
        if not _ADDRESS.match(self.to):
            raise ValueError("EmailMessage.to must be a single plain address like a@example.com")
        for what, value in (("subject", self.subject), ("to_name", self.to_name or "")):
            if _has_line_break(value):
                raise ValueError(f"EmailMessage.{what} must not contain line breaks")
        if not self.subject.strip():
            raise ValueError("EmailMessage.subject must not be empty")
        for name, value in self.headers.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"invalid email header name {name!r}")
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is set by the sender, not by the message")
            if _has_line_break(value):
                raise ValueError(f"email header {name!r} must not contain line breaks")
        # A read-only copy, so a frozen message stays frozen even if the caller's dict changes.
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))


def _has_line_break(value: str) -> bool:
    return "\r" in value or "\n" in value
