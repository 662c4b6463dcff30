"""The local Serve stack the serve and web tiers share: one real Ray cluster with both Serve
apps, started once per test session by whichever tier asks first.

Its processor replicas take any queued episode in the session's database, so the tests that
use it run last (tests/conftest.py moves them to the end of the session): no other tier's
queued jobs can be taken. The apps run with this session's database, Redis prefix and S3
bucket, on a free loopback port, with short leases and backoff so failure paths finish in
seconds; the demo podcast's files are served (the web tier processes the demo catalog).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from models.settings import LLMSettings, ModelSettings
from tellmemore.settings import (
    ApiSettings,
    AuthSettings,
    DatabaseSettings,
    DemoSettings,
    FeedSettings,
    LanceSettings,
    ProcessingSettings,
    RateLimitSettings,
    RedisSettings,
    S3Settings,
    Settings,
    secret_environment,
)
from tests.support.fake_cluster import free_port
from tests.support.secrets import TEST_SECRET

ROOT = Path(__file__).resolve().parent.parent.parent


@dataclass(frozen=True)
class Online:
    settings: Settings
    url: str
    llm_url: str
    metrics_url: str  # the Ray node's metrics endpoint, the one Prometheus scrapes


@pytest.fixture(scope="session")
def online_settings(
    database_url: str, redis_settings: RedisSettings, s3_settings: S3Settings
) -> Settings:

    return Settings(
        environment="test",
        auth=AuthSettings(jwt_secret=TEST_SECRET, bcrypt_rounds=4),
        redis=redis_settings,
        rate_limit=RateLimitSettings(
            per_user_per_minute=100_000,
            per_ip_per_minute=100_000,
            auth_per_minute=100_000,
            refresh_per_minute=100_000,  # the web app refreshes on every page load
        ),
        database=DatabaseSettings(url=database_url, pool_min_size=0, pool_max_size=4),
        feeds=FeedSettings(allow_private_hosts=True, read_timeout_s=5.0, total_timeout_s=20.0),
        # The web app (web/dist, when built) on the same origin, as `make run` serves it.
        api=ApiSettings(port=free_port()),
        demo=DemoSettings(enabled=True),
        s3=s3_settings,
        lance=LanceSettings(prefix=f"lance-{uuid.uuid4().hex[:8]}"),
        models=ModelSettings(dir=ROOT / ".local" / "models", llm=LLMSettings(max_model_len=2048)),
        processing=ProcessingSettings(
            max_attempts=2,
            backoff_base_s=0.5,
            backoff_max_s=1.0,
            lease_s=6.0,
            poll_s=1.0,
            concurrency=2,
            download_timeout_s=60.0,
            metrics_interval_s=1.0,
        ),
    )


@pytest.fixture(scope="session")
def online(online_settings: Settings) -> Iterator[Online]:
    """Ray + Serve, started once; stopped (only what this session started) at its end."""
    import ray

    from raykit.local import metrics_url, start_ray
    from serve_apps.builder import AppOptions
    from serve_apps.local import deploy

    start_ray(num_cpus=8, environment=secret_environment(online_settings))
    try:
        cluster = deploy(online_settings, AppOptions(), timeout_s=600)
        yield Online(online_settings, cluster.url, cluster.llm_url, metrics_url())
    finally:
        # The cluster is this session's alone, and the tests that share it have ended: stopping
        # Ray stops every replica at once, where Serve's graceful shutdown waits on each
        # deployment in turn (30 s and more), as the local runner does (serve_apps/local.py).
        ray.shutdown()


def uses_online(item: pytest.Item) -> bool:
    return "online" in getattr(item, "fixturenames", ())
