"""The public surface: the HTTP API, authentication, rate limits and quotas."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator


def _repo_web_dist() -> Path | None:
    """The web app built in this checkout (``web/dist``), when there is one: ``make run`` serves
    it with no setting; an installed package has none and serves the API alone."""
    dist = Path(__file__).resolve().parents[2] / "web" / "dist"
    return dist if (dist / "index.html").is_file() else None


# Origins no pattern of ours may admit: anyone's site, anyone's Vercel or Netlify app.
_STRANGERS = ("https://evil.example", "https://attacker.vercel.app", "https://x.netlify.app")


class ApiSettings(BaseModel):
    """The HTTP API."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Browser origins allowed to call the API (the frontend lives on another origin).
    cors_origins: list[str] = Field(default_factory=list)
    # Also allowed: origins matching this whole pattern, for preview deploys whose URL changes
    # per pull request (``^https://tmm-web-[a-z0-9-]+-ourteam\.vercel\.app$``). Anchored at
    # both ends and https only, so no pattern lets in an origin nobody meant.
    cors_origin_regex: str | None = None
    # JSON request bodies larger than this are refused with 413 before they are read.
    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    # Proxies (addresses, networks or "*") whose X-Forwarded-For is believed (api/proxies.py),
    # so rate limits and logs see the client's address rather than the load balancer's.
    forwarded_allow_ips: str = "127.0.0.1"
    default_page_size: int = Field(default=20, ge=1)
    max_page_size: int = Field(default=100, ge=1)
    opml_max_bytes: int = Field(default=2 * 2**20, gt=0)
    opml_max_entries: int = Field(default=500, ge=1)
    # /metrics answers only `Authorization: Bearer <token>` when set; unset, it is open in
    # development and tests and absent in production (api/routes/metrics.py says why).
    metrics_token: SecretStr | None = None
    # /ready reuses its answer this long, so probing it in a loop costs one query per period.
    ready_cache_s: float = Field(default=1.0, ge=0)
    # The web app's refresh cookie (api/refresh_cookie.py): None decides per request (Secure
    # except plain http to a loopback host outside production); True or False forces it.
    refresh_cookie_secure: bool | None = None
    # The built web app (its index.html and assets/), served on the API's origin by
    # api/web_app.py; None serves the API alone (production hosts the app as a static site).
    web_dir: Path | None = Field(default_factory=_repo_web_dist)

    @field_validator("cors_origin_regex")
    @classmethod
    def _anchored_https(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not (value.startswith("^https://") and value.endswith("$")):
            raise ValueError("cors_origin_regex must match whole https origins: ^https://...$")
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise ValueError(f"cors_origin_regex is not a regular expression: {exc}") from exc
        for stranger in _STRANGERS:
            if pattern.fullmatch(stranger):
                raise ValueError(f"cors_origin_regex admits {stranger}: name our own hosts")
        return value


class AuthSettings(BaseModel):
    """Accounts: password hashing and tokens."""

    # HMAC key for access tokens. Required outside development; at least 32 characters.
    jwt_secret: SecretStr | None = None
    jwt_issuer: str = "tellmemore"
    access_token_ttl_s: int = Field(default=15 * 60, ge=30)
    refresh_token_ttl_s: int = Field(default=30 * 24 * 3600, ge=60)
    # bcrypt cost; tests may lower it, production keeps 12 or more.
    bcrypt_rounds: int = Field(default=12, ge=4, le=16)
    password_min_length: int = Field(default=10, ge=8)
    password_max_length: int = Field(default=128, le=1024)
    # Per-account login throttling (accounts/throttle.py): free failures, then a lock that
    # doubles per failure up to the max; login_failure_memory_s without failures resets it.
    login_free_failures: int = Field(default=5, ge=1)
    login_backoff_s: float = Field(default=2.0, gt=0)
    login_backoff_max_s: float = Field(default=900.0, gt=0)
    login_failure_memory_s: float = Field(default=3600.0, gt=0)
    # A new account's subscriptions are processed only once its email is verified (the link
    # mailed at sign-up); the link stays valid this long.
    require_email_verification: bool = True
    email_verification_ttl_s: int = Field(default=3 * 86_400, ge=60)


class RateLimitSettings(BaseModel):
    """Requests per minute, enforced in Redis so the limit holds across API processes."""

    enabled: bool = True
    per_user_per_minute: int = Field(default=100, ge=1)
    per_ip_per_minute: int = Field(default=100, ge=1)  # anonymous requests
    auth_per_minute: int = Field(default=10, ge=1)  # login and register, per client IP
    refresh_per_minute: int = Field(default=60, ge=1)  # token refreshes, per client IP
    # The window the limits count over; "per minute" in production, shorter in tests.
    window_s: float = Field(default=60.0, gt=0)


class QuotaSettings(BaseModel):
    """What one account may make the server spend per UTC day (accounts/quotas.py)."""

    enabled: bool = True
    feeds_per_day: int = Field(default=50, ge=1)  # feeds added or imported (OPML entries)
    episodes_per_day: int = Field(default=60, ge=0)  # episodes queued by subscribing
