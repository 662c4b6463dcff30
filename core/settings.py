"""The one settings object.

Everything configurable lives here, grouped by the part it configures. It is built once by the
entry point (CLI, API server, tests) with :func:`load_settings` and passed down explicitly, so
nothing reads the environment at import time and tests can build as many variants as they need.

Environment variables use the ``TMM_`` prefix and ``__`` between levels, e.g.
``TMM_DATABASE__URL`` or ``TMM_FEEDS__ALLOW_PRIVATE_HOSTS=true``; an optional ``.env`` file in the
working directory is read too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, HttpUrl
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "test", "production"]


class DatabaseSettings(BaseModel):
    """PostgreSQL connection and pool."""

    url: str = "postgresql://postgres@127.0.0.1:5432/tellmemore"
    pool_min_size: int = Field(default=1, ge=0)
    pool_max_size: int = Field(default=10, ge=1)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    # Caps one statement so a runaway query cannot hold a pooled connection forever.
    statement_timeout_ms: int = Field(default=30_000, ge=0)


class FeedSettings(BaseModel):
    """Fetching RSS/Atom feeds and OPML-listed feeds from the open internet."""

    max_bytes: int = Field(default=25 * 2**20, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=20.0, gt=0)
    # Wall-clock bound on one whole fetch, redirects included (a slow-drip server is cut off).
    total_timeout_s: float = Field(default=45.0, gt=0)
    max_redirects: int = Field(default=5, ge=0, le=20)
    # itunes:new-feed-url hops followed in one fetch; the chain is recorded on the podcast.
    max_feed_moves: int = Field(default=3, ge=0, le=10)
    user_agent: str = "TellMeMore/0.1 (+podcast playlists)"
    # Refuse URLs that resolve to loopback, private, link-local or reserved addresses (SSRF).
    # Tests and the local demo serve feeds on 127.0.0.1 and turn this on.
    allow_private_hosts: bool = False
    refresh_concurrency: int = Field(default=8, ge=1, le=64)


class AppleSettings(BaseModel):
    """The iTunes Search API used for podcast discovery."""

    base_url: HttpUrl = HttpUrl("https://itunes.apple.com")
    country: str = Field(default="US", pattern=r"^[A-Za-z]{2}$")
    timeout_s: float = Field(default=10.0, gt=0)
    cache_ttl_s: int = Field(default=3600, ge=0)
    cache_max_entries: int = Field(default=2048, ge=1)
    # Apple allows roughly 20 calls a minute and answers 403 beyond; we stop before that.
    calls_per_minute: int = Field(default=20, ge=1)


class ApiSettings(BaseModel):
    """The HTTP API."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    default_page_size: int = Field(default=20, ge=1)
    max_page_size: int = Field(default=100, ge=1)
    opml_max_bytes: int = Field(default=2 * 2**20, gt=0)
    opml_max_entries: int = Field(default=500, ge=1)


class DemoSettings(BaseModel):
    """The demo podcast that ships with the app."""

    # Serve the demo feed (and, later, its audio) from the API under /demo/.
    enabled: bool = False


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
    demo: DemoSettings = DemoSettings()


def load_settings(env_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from the environment (and ``.env``), with explicit overrides on top."""
    if env_file is not None:
        return Settings(_env_file=env_file, **overrides)
    return Settings(**overrides)
