"""The one settings object.

Everything configurable lives here, grouped by the part it configures. It is built once by the
entry point (CLI, API server, tests) with :func:`load_settings` and passed down explicitly, so
nothing reads the environment at import time and tests can build as many variants as they need.

Environment variables use the ``TMM_`` prefix and ``__`` between levels, e.g.
``TMM_DATABASE__URL`` or ``TMM_FEEDS__ALLOW_PRIVATE_HOSTS=true``; an optional ``.env`` file in the
working directory is read too.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The models' settings live with the models (which import nothing of ours); they are part of
# this one object, under ``models``.
from models.settings import ModelSettings
from tellmemore.settings.edge import (
    ApiSettings,
    AuthSettings,
    QuotaSettings,
    RateLimitSettings,
)
from tellmemore.settings.pickling import restore_secrets, secret_environment, strip_secrets
from tellmemore.settings.services import (
    DatabaseSettings,
    EmailSettings,
    LanceSettings,
    RedisSettings,
    S3Settings,
)
from tellmemore.settings.work import (
    AppleSettings,
    BackupSettings,
    BatchSettings,
    DemoSettings,
    FeedSettings,
    LogSettings,
    PlaylistSettings,
    ProcessingSettings,
    SearchSettings,
)

Environment = Literal["development", "test", "production"]
_PLACEHOLDER_SECRETS = frozenset({"changeme", "change-me", "secret", "changethis", "placeholder"})


__all__ = [
    "ApiSettings",
    "AppleSettings",
    "AuthSettings",
    "BackupSettings",
    "BatchSettings",
    "DatabaseSettings",
    "DemoSettings",
    "EmailSettings",
    "Environment",
    "FeedSettings",
    "LanceSettings",
    "LogSettings",
    "ModelSettings",
    "PlaylistSettings",
    "ProcessingSettings",
    "QuotaSettings",
    "RateLimitSettings",
    "RedisSettings",
    "S3Settings",
    "SearchSettings",
    "Settings",
    "load_settings",
    "secret_environment",
]


class Settings(BaseSettings):
    """All settings of Tell Me More, built once and passed explicitly."""

    model_config = SettingsConfigDict(
        env_prefix="TMM_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    environment: Environment = "development"
    log_level: str = "INFO"
    database: DatabaseSettings = DatabaseSettings()
    feeds: FeedSettings = FeedSettings()
    apple: AppleSettings = AppleSettings()
    api: ApiSettings = ApiSettings()
    auth: AuthSettings = AuthSettings()
    redis: RedisSettings = RedisSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    quotas: QuotaSettings = QuotaSettings()
    log: LogSettings = LogSettings()
    models: ModelSettings = Field(default_factory=ModelSettings)
    s3: S3Settings = S3Settings()
    lance: LanceSettings = LanceSettings()
    processing: ProcessingSettings = ProcessingSettings()
    demo: DemoSettings = DemoSettings()
    search: SearchSettings = SearchSettings()
    playlists: PlaylistSettings = PlaylistSettings()
    email: EmailSettings = EmailSettings()
    batch: BatchSettings = BatchSettings()
    backup: BackupSettings = BackupSettings()

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> Self:
        """Outside development a real JWT secret is required; refusing to start is the point."""
        if self.environment == "development":
            return self
        secret = self.auth.jwt_secret.get_secret_value() if self.auth.jwt_secret else ""
        if len(secret) < 32 or secret.lower() in _PLACEHOLDER_SECRETS:
            raise ValueError(
                f"auth.jwt_secret (TMM_AUTH__JWT_SECRET) must be set to a random value of at "
                f"least 32 characters when environment={self.environment!r}"
            )
        return self

    def jwt_secret(self) -> str:
        """The signing key; development without one gets a random key per process."""
        if self.auth.jwt_secret is not None:
            return self.auth.jwt_secret.get_secret_value()
        if self.environment != "development":
            # Settings unpickled where TMM_AUTH__JWT_SECRET is not set (tellmemore/settings/
            # secrets.py): a random key here would reject every other process's tokens.
            raise RuntimeError(
                "TMM_AUTH__JWT_SECRET is not set in this process's environment; settings "
                "carry no secrets between processes"
            )
        return _development_secret()

    def __getstate__(self) -> dict[Any, Any]:
        """Pickled (for Ray) without a single secret; see :mod:`tellmemore.settings.pickling`."""
        bare = self.model_copy(deep=True)
        strip_secrets(bare)
        state: dict[Any, Any] = super(Settings, bare).__getstate__()
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        restore_secrets(self, os.environ)


@lru_cache(maxsize=1)
def _development_secret() -> str:
    return secrets.token_urlsafe(48)


def load_settings(env_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from the environment (and ``.env``), with explicit overrides on top."""
    if env_file is not None:
        return Settings(_env_file=env_file, **overrides)
    return Settings(**overrides)
