"""One real local Ray cluster and one deployment of both Serve apps for the whole session.

The apps run with this session's database, Redis prefix and S3 bucket, on a free loopback port,
with short leases and backoff so failure paths finish in seconds rather than minutes.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from models import audio
from models.settings import LLMSettings, ModelSettings
from tellmemore.settings import (
    ApiSettings,
    AuthSettings,
    DatabaseSettings,
    FeedSettings,
    LanceSettings,
    ProcessingSettings,
    RateLimitSettings,
    RedisSettings,
    S3Settings,
    Settings,
    secret_environment,
)
from tests.conftest import TEST_SECRET
from tests.support.audio_files import encode, librivox

ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
            per_user_per_minute=100_000, per_ip_per_minute=100_000, auth_per_minute=100_000
        ),
        database=DatabaseSettings(url=database_url, pool_min_size=0, pool_max_size=4),
        feeds=FeedSettings(allow_private_hosts=True, read_timeout_s=5.0, total_timeout_s=20.0),
        api=ApiSettings(port=free_port()),
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


# Module scope (there is one module here, so one cluster per session): the processor replicas
# must be gone before other tiers run, or they would take those tests' queued episodes.
@pytest.fixture(scope="module")
def online(online_settings: Settings) -> Iterator[Online]:
    """Ray + Serve, started once; stopped (only what this session started) after the module."""
    import ray
    from ray import serve

    from raykit.local import metrics_url, start_ray
    from serve_apps.builder import AppOptions
    from serve_apps.local import deploy

    start_ray(num_cpus=8, environment=secret_environment(online_settings))
    try:
        cluster = deploy(online_settings, AppOptions(), timeout_s=600)
        yield Online(online_settings, cluster.url, cluster.llm_url, metrics_url())
    finally:
        serve.shutdown()  # type: ignore[no-untyped-call]
        ray.shutdown()


@pytest.fixture(scope="session")
def speech_mp3(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, str]:
    """Real read speech (LibriVox clips joined with pauses, ~30 s) as MP3, and its text."""
    pause = np.zeros(int(1.2 * audio.SAMPLE_RATE), dtype=np.float32)
    pieces: list[np.ndarray] = []
    for wav, _ in librivox():
        pieces += [audio.decode(wav), pause]
    path = encode(np.concatenate(pieces), tmp_path_factory.mktemp("speech") / "s.mp3",
                  "libmp3lame")  # fmt: skip
    return path.read_bytes(), " ".join(text for _, text in librivox())


def rss(base: str, items: list[dict[str, Any]]) -> bytes:
    """A small podcast feed; each item: guid, title, enclosure (url), type, date."""
    entries = "".join(
        f"""<item><title>{i["title"]}</title><guid isPermaLink="false">{i["guid"]}</guid>
        <pubDate>{i.get("date", "Mon, 02 Nov 2026 09:00:00 +0000")}</pubDate>
        <enclosure url="{i["enclosure"]}" length="1000" type="{i.get("type", "audio/mpeg")}"/>
        </item>"""
        for i in items
    )
    return (
        f"""<?xml version="1.0"?><rss version="2.0"><channel>
        <title>Test show {uuid.uuid4().hex[:6]}</title><link>{base}</link>
        <description>Speech for tests.</description>{entries}</channel></rss>"""
    ).encode()


async def wait_for(
    http: httpx.AsyncClient, episode_id: str, states: set[str], timeout_s: float = 300
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        body: dict[str, Any] = (await http.get(f"/episodes/{episode_id}")).json()
        if body["status"] in states:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"episode {episode_id} still {body['status']}: {body}")
        await asyncio.sleep(1)
