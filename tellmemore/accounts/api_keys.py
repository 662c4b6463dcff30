"""API keys: long-lived, scoped credentials for scripts and the LLM route.

A key reads ``tmm_<prefix id>_<secret>``: the ``tmm_`` start tells it from a JWT, the 12 hex
digits after it are its public id (shown in listings, used to find the row) and the secret is
256 random bits. Only the SHA-256 of the whole key is stored, and it is compared in constant
time, so a database dump holds nothing a caller could present. A key acts as its owner (the
same rate limits, the same data) but only within its scopes: ``read`` for GET routes, ``write``
for the routes that change something, ``llm`` for the LLM route. Making, listing and revoking
keys, like the rest of the account's credentials, needs a signed-in session, never a key.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import psycopg
from psycopg_pool import AsyncConnectionPool

from tellmemore.accounts.auth import Principal
from tellmemore.accounts.rows import api_keys as key_rows
from tellmemore.accounts.rows import users as user_rows
from tellmemore.accounts.tokens import unauthorized
from tellmemore.accounts.types import ApiKey
from tellmemore.clock import Clock
from tellmemore.errors import CatalogError, ErrorKind

log = logging.getLogger("tellmemore.api_keys")

KEY_START: Final = "tmm_"
SCOPES: Final = ("read", "write", "llm")
MAX_USABLE_KEYS: Final = 20
# last_used_at is written at most this often per key.
_TOUCH_EVERY_S: Final = 60.0
_KEY = re.compile(r"tmm_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class KeyPrincipal(Principal):
    """A caller by API key: the key's owner, and what the key may do. ``session_id`` is the
    key's id (a key is its own session: nothing else of the owner's ends with it)."""

    scopes: frozenset[str] = frozenset()

    @property
    def key_id(self) -> UUID:
        return self.session_id


def is_api_key(token: str) -> bool:
    """Whether a bearer token is meant as an API key (rather than an access token)."""
    return token.startswith(KEY_START)


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def require_scope(principal: Principal, scope: str) -> None:
    """403 ``insufficient_scope`` when an API key lacks ``scope``; sessions have every scope."""
    if isinstance(principal, KeyPrincipal) and scope not in principal.scopes:
        raise CatalogError(
            "insufficient_scope",
            f"This API key does not have the {scope!r} scope this route needs.",
            ErrorKind.FORBIDDEN,
            details={"required": scope, "scopes": sorted(principal.scopes)},
        )


def require_session(principal: Principal) -> None:
    """403 ``session_required`` for an API key: credentials and the account itself are managed
    only from a signed-in session, so a leaked key cannot make more keys or lock its owner out."""
    if isinstance(principal, KeyPrincipal):
        raise CatalogError(
            "session_required",
            "Sign in: this route cannot be used with an API key.",
            ErrorKind.FORBIDDEN,
        )


def _invalid() -> CatalogError:
    return unauthorized("api_key_invalid", "The API key is not valid.")


class ApiKeys:
    """Make, list, revoke and check API keys over PostgreSQL."""

    def __init__(self, pool: AsyncConnectionPool, clock: Clock) -> None:
        self._pool = pool
        self._clock = clock

    async def create(
        self,
        principal: Principal,
        *,
        name: str,
        scopes: Sequence[str],
        expires_at: datetime | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key and its secret (the only time the secret is seen)."""
        require_session(principal)
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown or not scopes:
            raise CatalogError(
                "invalid_scopes",
                f"Scopes are one or more of {', '.join(SCOPES)}.",
                details={"unknown": unknown},
            )
        wanted = sorted(set(scopes), key=SCOPES.index)
        now = self._clock()
        if expires_at is not None and expires_at <= now:
            raise CatalogError("expiry_in_past", "expires_at must be in the future.")
        user_id = principal.user.id
        async with self._pool.connection() as conn:
            if await key_rows.count_usable(conn, user_id, now) >= MAX_USABLE_KEYS:
                raise CatalogError(
                    "too_many_api_keys",
                    f"You have {MAX_USABLE_KEYS} usable API keys; revoke one first.",
                    ErrorKind.CONFLICT,
                    details={"max": MAX_USABLE_KEYS},
                )
            for attempt in range(3):  # a 48-bit prefix collides practically never
                prefix = KEY_START + secrets.token_hex(6)
                secret = f"{prefix}_{secrets.token_urlsafe(32)}"
                try:
                    key = await key_rows.insert(
                        conn, user_id=user_id, name=name, prefix=prefix,
                        digest=key_digest(secret), scopes=wanted, created_at=now,
                        expires_at=expires_at,
                    )  # fmt: skip
                    break
                except psycopg.errors.UniqueViolation:
                    if attempt == 2:
                        raise
        log.info(
            "api key created",
            extra={"user_id": str(user_id), "key_id": str(key.id), "scopes": wanted},
        )
        return key, secret

    async def keys(self, principal: Principal) -> list[ApiKey]:
        """The caller's keys that are not revoked (expired ones included), newest first."""
        require_session(principal)
        async with self._pool.connection() as conn:
            return await key_rows.list_for(conn, principal.user.id)

    async def revoke(self, principal: Principal, key_id: UUID) -> None:
        require_session(principal)
        async with self._pool.connection() as conn:
            found = await key_rows.revoke(conn, principal.user.id, key_id, self._clock())
        if not found:
            raise CatalogError(
                "api_key_not_found", "You have no such API key.", ErrorKind.NOT_FOUND
            )
        log.info("api key revoked",
                 extra={"user_id": str(principal.user.id), "key_id": str(key_id)})  # fmt: skip

    async def authenticate(self, key: str) -> KeyPrincipal:
        """The caller behind a key, if it is genuine, not revoked, not expired and its owner
        exists; 401 otherwise. Scopes are checked by the caller (:func:`require_scope`)."""
        found = await self._lookup(key)
        if found is None:
            raise _invalid()
        user_id, stored = found
        now = self._clock()
        if stored.revoked_at is not None:
            raise unauthorized("api_key_revoked", "This API key has been revoked.")
        if stored.expires_at is not None and now >= stored.expires_at:
            raise unauthorized("api_key_expired", "This API key has expired; make a new one.")
        async with self._pool.connection() as conn:
            user = await user_rows.get(conn, user_id)
            if user is None:
                raise _invalid()
            await key_rows.touch(conn, stored.id, now, _TOUCH_EVERY_S)
        return KeyPrincipal(user, stored.id, frozenset(stored.scopes))

    async def user_id_of(self, key: str) -> UUID | None:
        """The owner of a usable key (for keying rate limits, so a key shares its owner's
        budget); ``None`` for anything else."""
        found = await self._lookup(key)
        if found is None:
            return None
        user_id, stored = found
        expired = stored.expires_at is not None and self._clock() >= stored.expires_at
        return None if stored.revoked_at is not None or expired else user_id

    async def _lookup(self, key: str) -> tuple[UUID, ApiKey] | None:
        match = _KEY.fullmatch(key)
        if match is None:
            return None
        async with self._pool.connection() as conn:
            row = await key_rows.by_prefix(conn, KEY_START + match.group(1))
        if row is None or not hmac.compare_digest(row[1], key_digest(key)):
            return None
        return row[0], row[2]

    async def export(self, user_id: UUID) -> list[dict[str, Any]]:
        """Every key of the user, revoked ones included, JSON-ready and without secrets."""
        async with self._pool.connection() as conn:
            keys = await key_rows.list_for(conn, user_id, include_revoked=True)
        return [
            {
                "id": str(k.id),
                "name": k.name,
                "prefix": k.prefix,
                "scopes": list(k.scopes),
                "created_at": k.created_at.isoformat(),
                "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
                "expires_at": k.expires_at.isoformat() if k.expires_at else None,
                "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
                "secret": "stored only as a SHA-256 digest, which is not exported",
            }
            for k in keys
        ]
