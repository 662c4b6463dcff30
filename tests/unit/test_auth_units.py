"""Password rules, token signing/checking and log scrubbing, without services."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from tellmemore.accounts import (
    AccessTokens,
    PasswordHasher,
    check_password_rules,
    refresh_token_digest,
)
from tellmemore.errors import CatalogError
from tellmemore.logs import mask_email, scrub
from tellmemore.settings import AuthSettings

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


async def test_long_passphrases_are_hashed_whole() -> None:
    """bcrypt alone ignores bytes past 72; the SHA-256 pre-hash keeps every byte significant."""
    hasher = PasswordHasher(AuthSettings(bcrypt_rounds=4))
    base = "p" * 80
    hashed = await hasher.hash(base + "A")
    assert await hasher.verify(base + "A", hashed)
    assert not await hasher.verify(base + "B", hashed)
    assert PasswordHasher.cost_of(hashed) == 4
    assert not await hasher.verify("anything", None)


def test_password_rules() -> None:
    settings = AuthSettings()
    check_password_rules("a perfectly fine passphrase", "jo@example.com", settings)
    cases = [
        ("short", "password_too_short"),
        ("jo@example.com", "password_is_email"),
        ("x" * 200, "password_too_long"),
        ("ababababab", "password_too_simple"),
    ]
    for password, code in cases:
        with pytest.raises(CatalogError) as caught:
            check_password_rules(password, "jo@example.com", settings)
        assert caught.value.code == code


def test_access_tokens() -> None:
    tokens = AccessTokens("k" * 40, "tellmemore", ttl_s=900)
    user, family = uuid.uuid4(), uuid.uuid4()
    token = tokens.issue(user, family, NOW)
    claims = tokens.check(token, NOW + timedelta(seconds=899))
    assert (claims.user_id, claims.family_id) == (user, family)
    with pytest.raises(CatalogError) as expired:
        tokens.check(token, NOW + timedelta(seconds=900))
    assert expired.value.code == "token_expired"
    for bad in (
        AccessTokens("other" * 10, "tellmemore", 900).issue(user, family, NOW),
        AccessTokens("k" * 40, "someone-else", 900).issue(user, family, NOW),
        jwt.encode(
            {"sub": str(user), "fam": str(family), "exp": 9e9, "iat": 0},
            None,  # type: ignore[arg-type]  # the unsigned "none" algorithm takes no key
            algorithm="none",
        ),
        token[:-2] + "xx",
        "not.a.token",
    ):
        with pytest.raises(CatalogError) as caught:
            tokens.check(bad, NOW)
        assert caught.value.code == "token_invalid"


def test_refresh_digest_is_stable_and_one_way() -> None:
    assert refresh_token_digest("abc") == refresh_token_digest("abc")
    assert len(refresh_token_digest("abc")) == 32
    assert refresh_token_digest("abc") != refresh_token_digest("abd")


def test_scrub() -> None:
    token = jwt.encode({"sub": "x"}, "k" * 40, algorithm="HS256")
    text = scrub(
        f"user jane.doe@example.com sent Authorization: Bearer {token} "
        'with {"password": "hunter22", "refresh_token": "abc"} and password=s3cret&x=1'
    )
    assert "jane.doe" not in text and "hunter22" not in text and "s3cret" not in text
    assert token not in text and '"abc"' not in text
    assert "j***@e***.com" in text
    assert mask_email("a@b.io") == "a***@b***.io"
