"""Account types at the accounts' boundaries: users, their sessions (logins), subscriptions and
the token pair a login or a refresh hands the client."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True)
class User:
    """An account (the password hash never leaves the repository layer)."""

    id: UUID
    email: str
    display_name: str | None
    password_changed_at: datetime
    created_at: datetime
    updated_at: datetime
    is_admin: bool = False
    # None until the owner followed the link mailed to ``email`` (changing the email resets it).
    email_verified_at: datetime | None = None


@dataclass(frozen=True)
class Session:
    """One login (refresh-token family): a device, as the user sees it."""

    id: UUID
    user_agent: str | None
    created_at: datetime
    last_used_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None


@dataclass(frozen=True)
class Subscription:
    podcast_id: UUID
    title: str
    feed_url: str
    image_url: str | None
    created_at: datetime


@dataclass(frozen=True)
class TokenPair:
    """What a login or a refresh hands the client."""

    access_token: str
    access_expires_in_s: int
    refresh_token: str
    refresh_expires_at: datetime
    session_id: UUID


@dataclass(frozen=True)
class ApiKey:
    """An API key as its owner sees it: never the secret, which is shown once at creation and
    stored only as a digest."""

    id: UUID
    name: str
    prefix: str  # the public part of the key (``tmm_<12 hex>``), to tell keys apart
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
