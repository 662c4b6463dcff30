"""Password rules and bcrypt hashing.

bcrypt reads at most 72 bytes and bcrypt 5 refuses longer input, while our rules allow long
passphrases; so the password is first reduced with SHA-256 (base64, 44 bytes), the scheme
passlib calls ``bcrypt_sha256``. The cost comes from settings (12 in production).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib

import bcrypt

from tellmemore.errors import CatalogError
from tellmemore.settings import AuthSettings

# A real hash to check against when the account does not exist, so that a login for an unknown
# email costs as much time as one for a known email (no user enumeration by timing).
_DUMMY_PASSWORD = "tellmemore-dummy-password"  # noqa: S105 (never a real account)


def _prepare(password: str) -> bytes:
    return base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())


def check_password_rules(password: str, email: str, settings: AuthSettings) -> None:
    """Length bounds, and not the email (or its local part) itself."""
    if len(password) < settings.password_min_length:
        raise CatalogError(
            "password_too_short",
            f"Passwords need at least {settings.password_min_length} characters.",
        )
    if len(password) > settings.password_max_length:
        raise CatalogError(
            "password_too_long",
            f"Passwords can have at most {settings.password_max_length} characters.",
        )
    lowered = password.strip().lower()
    local = email.split("@", 1)[0].lower()
    if lowered in (email.strip().lower(), local):
        raise CatalogError("password_is_email", "The password must not be your email address.")
    if len(set(password)) < 3:
        raise CatalogError("password_too_simple", "The password repeats too few characters.")


class PasswordHasher:
    """bcrypt at the configured cost, off the event loop (a hash takes ~0.25 s at cost 12)."""

    def __init__(self, settings: AuthSettings) -> None:
        self._rounds = settings.bcrypt_rounds
        self._dummy: bytes | None = None

    def hash_sync(self, password: str) -> str:
        return bcrypt.hashpw(_prepare(password), bcrypt.gensalt(self._rounds)).decode("ascii")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hash_sync, password)

    async def verify(self, password: str, hashed: str | None) -> bool:
        """Check ``password`` against ``hashed``; with no hash, spend the time anyway."""
        target = hashed.encode("ascii") if hashed else await asyncio.to_thread(self._dummy_hash)
        ok = await asyncio.to_thread(bcrypt.checkpw, _prepare(password), target)
        return ok and hashed is not None

    def _dummy_hash(self) -> bytes:
        if self._dummy is None:
            self._dummy = bcrypt.hashpw(_prepare(_DUMMY_PASSWORD), bcrypt.gensalt(self._rounds))
        return self._dummy

    @staticmethod
    def cost_of(hashed: str) -> int:
        """The cost a stored hash was made with (``$2b$12$...`` -> 12)."""
        return int(hashed.split("$")[2])
