"""One real local Ray cluster for the batch pipeline tests, with this session's PostgreSQL
database, Redis prefix and S3 bucket; the search tables live on the S3 server too.

A backlog of episodes is served from the loopback feed server: real read speech (LibriVox
clips, MP3), one enclosure that answers 404 and one that is not audio at all.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg
import pytest

from models import audio
from models.settings import LLMSettings, ModelSettings
from tellmemore.settings import (
    AuthSettings,
    BatchSettings,
    DatabaseSettings,
    FeedSettings,
    LanceSettings,
    RedisSettings,
    S3Settings,
    Settings,
    secret_environment,
)
from tellmemore.wiring import open_services
from tests.support.audio_files import encode, librivox
from tests.support.fake_cluster import free_port
from tests.support.http_server import LoopbackHTTPServer
from tests.support.secrets import TEST_SECRET

ROOT = Path(__file__).resolve().parent.parent.parent


@dataclass(frozen=True)
class Backlog:
    podcast_id: str
    episode_ids: dict[str, str]  # guid -> episode id
    spoken: dict[str, str]  # guid -> the words read in it


@dataclass(frozen=True)
class RayCluster:
    address: str  # the GCS address a driver joins
    jobs_url: str  # the Ray Job server
    metrics_url: str  # the node's Ray metrics endpoint (what Prometheus scrapes)


@pytest.fixture(scope="module")
def ray_cluster(s3_settings: S3Settings) -> Iterator[RayCluster]:
    """A private Ray cluster for this module, with its Ray Job server on loopback; its
    processes get the object store's keys from their environment, as pods get theirs.

    Started with Ray's own ``ray.cluster_utils`` harness rather than ``ray.init``, because that
    lets every port be one of its own: ``ray.init`` always puts the dashboard agent (which Ray
    Jobs go through) on 52365, and another lane's local cluster may hold that port."""
    import ray
    from ray.cluster_utils import Cluster

    from raykit.local import metrics_url, set_ray_env

    set_ray_env()
    port, agent_port = free_port(), free_port()
    environment = secret_environment(Settings(s3=s3_settings))
    saved = {key: os.environ.get(key) for key in environment}
    os.environ.update(environment)  # Ray's processes keep the environment they start with
    try:
        cluster = Cluster(
            initialize_head=True,
            head_node_args={
                "num_cpus": 8,
                "object_store_memory": 512 * 2**20,
                "node_ip_address": "127.0.0.1",
                "include_dashboard": True,
                "dashboard_host": "127.0.0.1",
                "dashboard_port": port,
                "dashboard_agent_listen_port": agent_port,
            },
        )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    try:
        ray.init(address=cluster.address, configure_logging=False, log_to_driver=False)
        yield RayCluster(cluster.address, f"http://127.0.0.1:{port}", metrics_url())
    finally:
        ray.shutdown()
        cluster.shutdown()  # type: ignore[no-untyped-call]


@pytest.fixture(scope="module", autouse=True)
def forget_search_indexes(database_url: str) -> Iterator[None]:
    """The session's other tiers search the default tables: whatever this module switched,
    the registry is left empty (readers then use their own settings' index)."""
    yield
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM search_indexes")


@pytest.fixture(scope="module")
def batch_settings(
    database_url: str, redis_settings: RedisSettings, s3_settings: S3Settings
) -> Settings:
    return Settings(
        environment="test",
        auth=AuthSettings(jwt_secret=TEST_SECRET, bcrypt_rounds=4),
        redis=redis_settings,
        database=DatabaseSettings(url=database_url, pool_min_size=0, pool_max_size=4),
        feeds=FeedSettings(allow_private_hosts=True, read_timeout_s=5.0, total_timeout_s=20.0),
        s3=s3_settings,
        lance=LanceSettings(prefix=f"lance-batch-{uuid.uuid4().hex[:8]}"),
        models=ModelSettings(dir=ROOT / ".local" / "models", llm=LLMSettings(max_model_len=2048)),
        batch=BatchSettings(episodes_per_block=1, embed_batch_episodes=4, catch_up_rounds=2),
    )


def speech_mp3(clips: list[int], folder: Path) -> tuple[bytes, str]:
    """LibriVox clips ``clips`` joined with pauses, as MP3, and the words read."""
    pause = np.zeros(int(1.0 * audio.SAMPLE_RATE), dtype=np.float32)
    pieces: list[np.ndarray] = []
    words = []
    found = librivox()
    for i in clips:
        wav, text = found[i % len(found)]
        pieces += [audio.decode(wav), pause]
        words.append(text)
    path = encode(np.concatenate(pieces), folder / f"s{'-'.join(map(str, clips))}.mp3",
                  "libmp3lame")  # fmt: skip
    return path.read_bytes(), " ".join(words)


def publish(
    settings: Settings,
    server: LoopbackHTTPServer,
    folder: Path,
    episodes: dict[str, list[int] | str],
    chapters: dict[str, bytes | None] | None = None,
) -> Backlog:
    """A podcast whose episodes are ``guid -> clips`` (real speech) or ``guid -> "404"`` /
    ``"corrupt"``; added to the catalog (status ``new``: nothing is queued). ``chapters`` gives
    some episodes a podcast:chapters document (None: its URL answers 404)."""
    key = uuid.uuid4().hex[:8]
    items = []
    spoken = {}
    for n, (guid, spec) in enumerate(episodes.items()):
        path = f"/batch-{key}/{guid}.mp3"
        if spec == "corrupt":
            server.add(path, body=b"\xff\xfb\x90\x00" + bytes(range(256)) * 64,
                       content_type="audio/mpeg")  # fmt: skip
        elif spec != "404":
            assert isinstance(spec, list)
            body, spoken[guid] = speech_mp3(spec, folder)
            server.add(path, body=body, content_type="audio/mpeg")
        chapter_tag = ""
        if chapters is not None and guid in chapters:
            chapters_path = f"/batch-{key}/{guid}-chapters.json"
            if (doc := chapters[guid]) is not None:
                server.add(chapters_path, body=doc, content_type="application/json+chapters")
            chapter_tag = (f'<podcast:chapters url="{server.base_url}{chapters_path}" '
                           'type="application/json+chapters"/>')  # fmt: skip
        items.append(
            f'<item><title>Episode {guid}</title><guid isPermaLink="false">{guid}</guid>'
            f"<pubDate>Mon, {n + 1:02d} Nov 2026 09:00:00 +0000</pubDate>"
            f'<enclosure url="{server.base_url}{path}" length="1000" type="audio/mpeg"/>'
            f"{chapter_tag}</item>"
        )
    feed = (
        '<?xml version="1.0"?><rss version="2.0" '
        'xmlns:podcast="https://podcastindex.org/namespace/1.0">'
        f"<channel><title>Backlog {key}</title>"
        f"<link>{server.base_url}</link><description>Read speech.</description>"
        f"{''.join(items)}</channel></rss>"
    ).encode()
    url = server.add(f"/batch-{key}/feed.xml", body=feed)

    async def add() -> Backlog:
        async with open_services(settings, wait_for_db=True) as services:
            added = await services.catalog.add_document(url, feed)
            async with services.pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT guid, id::text FROM episodes WHERE podcast_id = %s",
                    (added.podcast_id,),
                )
                ids = {guid: eid for guid, eid in await cur.fetchall()}
        return Backlog(str(added.podcast_id), ids, spoken)

    return asyncio.run(add())
