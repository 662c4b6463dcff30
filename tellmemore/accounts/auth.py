"""The account flows: register, log in, refresh (with rotation and reuse detection), log out,
change password, and authenticating a request's access token.

Refresh tokens rotate on every use within a family (one family per login). Presenting a token
that was already rotated means it leaked or was replayed: the whole family is revoked, which
also ends that family's access tokens, since every request checks its family is still standing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from psycopg_pool import AsyncConnectionPool

from tellmemore.accounts.passwords import PasswordHasher, check_password_rules
from tellmemore.accounts.ratelimit import LimiterUnavailable
from tellmemore.accounts.rows import users as user_rows
from tellmemore.accounts.throttle import LoginThrottle
from tellmemore.accounts.tokens import (
    AccessTokens,
    new_refresh_token,
    refresh_token_digest,
    unauthorized,
)
from tellmemore.accounts.types import TokenPair, User
from tellmemore.clock import Clock
from tellmemore.errors import CatalogError, ErrorKind
from tellmemore.logs import mask_email
from tellmemore.settings import Settings

log = logging.getLogger("tellmemore.auth")
Conn = psycopg.AsyncConnection[Any]
T = TypeVar("T")


async def _limiter_call(call: Awaitable[T]) -> T:
    """Redis down: logins fail closed, as every write does (api.middleware)."""
    try:
        return await call
    except LimiterUnavailable as exc:
        raise CatalogError(
            "rate_limiter_unavailable",
            "Logins are paused while the rate limiter is unreachable; try again shortly.",
            ErrorKind.UNAVAILABLE,
            retry_after_s=5,
        ) from exc


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user and the session (token family) the access token belongs to."""

    user: User
    session_id: UUID


class AuthService:
    """Accounts and tokens over PostgreSQL."""

    def __init__(
        self,
        settings: Settings,
        pool: AsyncConnectionPool,
        clock: Clock,
        *,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self._settings = settings.auth
        self._throttle = throttle
        self._pool = pool
        self._clock = clock
        self._hasher = PasswordHasher(settings.auth)
        self._access = AccessTokens(
            settings.jwt_secret(), settings.auth.jwt_issuer, settings.auth.access_token_ttl_s
        )

    @property
    def hasher(self) -> PasswordHasher:
        return self._hasher

    async def register(
        self, email: str, password: str, display_name: str | None, user_agent: str | None
    ) -> tuple[User, TokenPair]:
        check_password_rules(password, email, self._settings)
        hashed = await self._hasher.hash(password)
        try:
            async with self._pool.connection() as conn, conn.transaction():
                user = await user_rows.insert(
                    conn, email=email, password_hash=hashed, display_name=display_name
                )
                tokens = await self._start_session(conn, user.id, user_agent)
        except psycopg.errors.UniqueViolation as exc:
            raise CatalogError(
                "email_taken", "An account with this email already exists.", ErrorKind.CONFLICT
            ) from exc
        log.info("account registered", extra={"user_id": str(user.id), "email": mask_email(email)})
        return user, tokens

    async def login(self, email: str, password: str, user_agent: str | None) -> TokenPair:
        """Check the password (unless this address is locked by its failures) and start a
        session."""
        await self._refuse_if_locked(email)
        async with self._pool.connection() as conn:
            found = await user_rows.credentials(conn, email)
        if not await self._hasher.verify(password, found[1] if found else None) or not found:
            log.info("login failed", extra={"email": mask_email(email)})
            if self._throttle is not None:
                await _limiter_call(self._throttle.failed(email))
            raise unauthorized("invalid_credentials", "The email or password is wrong.")
        if self._throttle is not None:
            await _limiter_call(self._throttle.succeeded(email))
        async with self._pool.connection() as conn, conn.transaction():
            tokens = await self._start_session(conn, found[0], user_agent)
        log.info("login succeeded", extra={"user_id": str(found[0]), "email": mask_email(email)})
        return tokens

    async def _refuse_if_locked(self, email: str) -> None:
        if self._throttle is None:
            return
        wait_s = await _limiter_call(self._throttle.locked_for(email))
        if wait_s > 0:
            log.info("login throttled", extra={"email": mask_email(email)})
            raise CatalogError(
                "login_throttled",
                f"Too many failed logins for this account; try again in {math.ceil(wait_s)} s.",
                ErrorKind.RATE_LIMITED,
                retry_after_s=math.ceil(wait_s),
            )

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate a refresh token; a reused one revokes its family."""
        digest = refresh_token_digest(refresh_token)
        now = self._clock()
        async with self._pool.connection() as conn, conn.transaction():
            row = await user_rows.lock_refresh_token(conn, digest)
            if row is None:
                raise unauthorized("refresh_token_invalid", "The refresh token is not valid.")
            family_id: UUID = row["family_id"]
            if row["revoked_at"] is not None:
                raise unauthorized("session_revoked", "This session has ended; log in again.")
            if row["rotated_at"] is not None:
                await user_rows.revoke_family(conn, family_id, "reuse", now)
                reused = True
            elif now >= row["expires_at"]:
                raise unauthorized(
                    "refresh_token_expired", "The session has expired; log in again."
                )
            else:
                reused = False
                await user_rows.mark_rotated(conn, digest, family_id, now)
                tokens = await self._issue(conn, row["user_id"], family_id)
        if reused:
            # Committed above: the family stays revoked although this request fails.
            log.warning(
                "refresh token reuse: session revoked",
                extra={"user_id": str(row["user_id"]), "session_id": str(family_id)},
            )
            raise unauthorized(
                "refresh_token_reused",
                "This refresh token was already used, so the session has been ended for safety; "
                "log in again.",
            )
        return tokens

    async def logout(self, principal: Principal) -> None:
        async with self._pool.connection() as conn:
            await user_rows.revoke_family(conn, principal.session_id, "logout", self._clock())
        log.info("logged out", extra={"user_id": str(principal.user.id)})

    async def change_password(self, principal: Principal, current: str, new: str) -> None:
        """Set a new password and end every other session of the user."""
        async with self._pool.connection() as conn:
            hashed = await user_rows.password_hash(conn, principal.user.id)
        if not await self._hasher.verify(current, hashed):
            raise CatalogError(
                "invalid_credentials", "The current password is wrong.", ErrorKind.FORBIDDEN
            )
        check_password_rules(new, principal.user.email, self._settings)
        new_hash = await self._hasher.hash(new)
        async with self._pool.connection() as conn, conn.transaction():
            await user_rows.set_password(conn, principal.user.id, new_hash)
            await user_rows.revoke_user_families(
                conn, principal.user.id, "password_change", self._clock(),
                keep=principal.session_id,
            )  # fmt: skip
        log.info("password changed", extra={"user_id": str(principal.user.id)})

    async def verify_password(self, principal: Principal, password: str) -> None:
        async with self._pool.connection() as conn:
            hashed = await user_rows.password_hash(conn, principal.user.id)
        if not await self._hasher.verify(password, hashed):
            raise CatalogError(
                "invalid_credentials", "The current password is wrong.", ErrorKind.FORBIDDEN
            )

    async def authenticate(self, access_token: str) -> Principal:
        """The caller behind an access token, if the token, its user and its session stand."""
        claims = self._access.check(access_token, self._clock())
        async with self._pool.connection() as conn:
            if not await user_rows.active_family(conn, claims.user_id, claims.family_id):
                raise unauthorized("session_revoked", "This session has ended; log in again.")
            user = await user_rows.get(conn, claims.user_id)
        if user is None:
            raise unauthorized("session_revoked", "This session has ended; log in again.")
        return Principal(user, claims.family_id)

    def user_id_of(self, access_token: str) -> UUID | None:
        """The user id in a well-signed, unexpired token, without a database round trip (for
        keying rate limits); ``None`` for anything else."""
        try:
            return self._access.check(access_token, self._clock()).user_id
        except CatalogError:
            return None

    async def _start_session(self, conn: Conn, user_id: UUID, user_agent: str | None) -> TokenPair:
        family_id = await user_rows.new_family(conn, user_id, user_agent, self._clock())
        return await self._issue(conn, user_id, family_id)

    async def _issue(self, conn: Conn, user_id: UUID, family_id: UUID) -> TokenPair:
        now = self._clock()
        refresh = new_refresh_token()
        expires = now + timedelta(seconds=self._settings.refresh_token_ttl_s)
        await user_rows.add_refresh_token(
            conn, family_id, refresh_token_digest(refresh), now, expires
        )
        return TokenPair(
            access_token=self._access.issue(user_id, family_id, now),
            access_expires_in_s=self._access.ttl_s,
            refresh_token=refresh,
            refresh_expires_at=expires,
            session_id=family_id,
        )
