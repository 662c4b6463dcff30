"""Email verification links: a signed, expiring token naming the account and the address.

The token is a JWT signed with the same key as access tokens but for its own audience, so
neither can stand in for the other. It names the address it was mailed to: following a link
after changing the email verifies nothing. Nothing is stored; following a link twice is
harmless (the account stays verified).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import jwt
from psycopg_pool import AsyncConnectionPool

from tellmemore.accounts.rows import users as user_rows
from tellmemore.accounts.service import Accounts
from tellmemore.accounts.types import User
from tellmemore.clock import Clock
from tellmemore.errors import CatalogError, ErrorKind

log = logging.getLogger("tellmemore.accounts")

AUDIENCE = "tellmemore-verify-email"
ALGORITHM = "HS256"


@dataclass(frozen=True)
class VerificationClaim:
    """What a valid link vouches for: this account received mail at this address."""

    user_id: UUID
    email: str


def _bad_link(message: str) -> CatalogError:
    return CatalogError("verification_invalid", message, ErrorKind.INVALID)


class VerificationTokens:
    """Signs and checks verification links' tokens against an injected clock."""

    def __init__(self, secret: str, issuer: str, ttl_s: int) -> None:
        # A key of its own, derived from the signing key, so that no confusion of audiences
        # could ever let one kind of token pass for the other.
        self._secret = hashlib.sha256(b"verify-email:" + secret.encode()).hexdigest()
        self._issuer = issuer
        self._ttl = timedelta(seconds=ttl_s)

    def issue(self, user_id: UUID, email: str, now: datetime) -> str:
        claims = {
            "sub": str(user_id),
            "email": email,
            "iss": self._issuer,
            "aud": AUDIENCE,
            "iat": int(now.timestamp()),
            "exp": int((now + self._ttl).timestamp()),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def check(self, token: str, now: datetime) -> VerificationClaim:
        """The claim of a valid, unexpired token; 400 ``verification_invalid`` otherwise."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=self._issuer,
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "require": ["sub", "email", "exp"],
                },
            )
            claim = VerificationClaim(UUID(claims["sub"]), str(claims["email"]))
            expires = int(claims["exp"])
        except (jwt.InvalidTokenError, ValueError, TypeError, KeyError) as exc:
            raise _bad_link("This verification link is not valid.") from exc
        if now.timestamp() >= expires:
            raise _bad_link("This verification link has expired; ask for a new one.")
        return claim


class EmailVerifications:
    """Issuing links for unverified accounts and following them: verifying the account and
    queueing what its subscriptions waited for."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        tokens: VerificationTokens,
        accounts: Accounts,
        clock: Clock,
        *,
        required: bool,
    ) -> None:
        self._pool = pool
        self._tokens = tokens
        self._accounts = accounts
        self._clock = clock
        self.required = required

    def token_for(self, user: User) -> str | None:
        """A link token for ``user``'s current address; None once it is verified."""
        if user.email_verified_at is not None:
            return None
        return self._tokens.issue(user.id, user.email, self._clock())

    async def confirm(self, token: str) -> Verified:
        """Verify the account the token names, if its email is still the one mailed to."""
        claim = self._tokens.check(token, self._clock())
        async with self._pool.connection() as conn:
            before = await user_rows.get(conn, claim.user_id)
            verified = await user_rows.mark_email_verified(conn, claim.user_id, claim.email)
        if not verified or before is None:
            raise _bad_link("This link was sent to an address the account no longer uses.")
        queued = 0
        if before.email_verified_at is None:
            queued = await self._accounts.queue_subscriptions(claim.user_id)
            log.info("email verified", extra={"user_id": str(claim.user_id), "queued": queued})
        return Verified(claim.user_id, queued)


@dataclass(frozen=True)
class Verified:
    user_id: UUID
    queued_episodes: int  # what the account's subscriptions had been waiting for
