"""Accounts: users and their passwords, access and refresh tokens, sessions, API keys,
subscriptions, and the rate limits that protect them."""

from tellmemore.accounts.api_keys import (
    ApiKeys,
    KeyPrincipal,
    is_api_key,
    require_scope,
    require_session,
)
from tellmemore.accounts.auth import AuthService, Principal
from tellmemore.accounts.passwords import PasswordHasher, check_password_rules
from tellmemore.accounts.quotas import Quotas
from tellmemore.accounts.ratelimit import Decision, LimiterUnavailable, RateLimiter
from tellmemore.accounts.service import Accounts
from tellmemore.accounts.throttle import LoginThrottle
from tellmemore.accounts.tokens import AccessTokens, refresh_token_digest
from tellmemore.accounts.types import ApiKey, TokenPair
from tellmemore.accounts.verification import EmailVerifications, VerificationTokens, Verified

__all__ = [
    "AccessTokens",
    "Accounts",
    "ApiKey",
    "ApiKeys",
    "AuthService",
    "Decision",
    "EmailVerifications",
    "KeyPrincipal",
    "LimiterUnavailable",
    "LoginThrottle",
    "PasswordHasher",
    "Principal",
    "Quotas",
    "RateLimiter",
    "TokenPair",
    "VerificationTokens",
    "Verified",
    "check_password_rules",
    "is_api_key",
    "refresh_token_digest",
    "require_scope",
    "require_session",
]
