"""Access tokens (JWT, short-lived) and refresh tokens (opaque, stored hashed).

An access token names the user and the refresh-token family (one per login/device) it came
from, so revoking a family ends that device's access tokens at once. Expiry is checked against
the injected clock, not the system time, so tests can move time.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import jwt

from tellmemore.errors import CatalogError, ErrorKind

AUDIENCE = "tellmemore-api"
ALGORITHM = "HS256"


@dataclass(frozen=True)
class AccessClaims:
    user_id: UUID
    family_id: UUID
    expires_at: datetime


def unauthorized(code: str, message: str) -> CatalogError:
    return CatalogError(code, message, ErrorKind.UNAUTHORIZED)


class AccessTokens:
    """Signs and checks access tokens."""

    def __init__(self, secret: str, issuer: str, ttl_s: int) -> None:
        self._secret = secret
        self._issuer = issuer
        self._ttl = timedelta(seconds=ttl_s)

    @property
    def ttl_s(self) -> int:
        return int(self._ttl.total_seconds())

    def issue(self, user_id: UUID, family_id: UUID, now: datetime) -> str:
        claims = {
            "sub": str(user_id),
            "fam": str(family_id),
            "iss": self._issuer,
            "aud": AUDIENCE,
            "iat": int(now.timestamp()),
            "exp": int((now + self._ttl).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def check(self, token: str, now: datetime) -> AccessClaims:
        """The claims of a valid token; 401 errors for anything else."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=self._issuer,
                # Time is checked below against the injected clock, not the system time.
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["sub", "fam", "exp", "iat"],
                },
            )
            expires = datetime.fromtimestamp(int(claims["exp"]), tz=now.tzinfo)
            user_id, family_id = UUID(claims["sub"]), UUID(claims["fam"])
        except (jwt.InvalidTokenError, ValueError, TypeError, KeyError) as exc:
            raise unauthorized("token_invalid", "The access token is not valid.") from exc
        if now >= expires:
            raise unauthorized(
                "token_expired", "The access token has expired; refresh it or log in again."
            )
        return AccessClaims(user_id, family_id, expires)


def new_refresh_token() -> str:
    """An opaque refresh token: 256 random bits."""
    return secrets.token_urlsafe(32)


def refresh_token_digest(token: str) -> bytes:
    """What we store: a SHA-256 of the token (it is random, so no salt or slow hash is needed)."""
    return hashlib.sha256(token.encode("utf-8")).digest()
