"""A transcriber with no capacity must not hold an episode forever.

The queue, the database, the S3 server, the worker, the processor and the models are real: the
real Whisper, LLM and embedder sit behind the :class:`~tellmemore.processing.Models` port in a
gate (:class:`tests.support.real_models.Gated`) that never lets a transcription start, which is
what a Serve handle does when no transcriber replica can be placed (no GPU in the cluster).
Each attempt ends at the deadline with the machine-readable reason on the job and the episode,
the queue backs off and retries, the last attempt dead-letters the job, and an episode queued
behind it (with the publisher's transcript, so summarized and embedded by the real models) is
processed meanwhile.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import numpy as np
import psycopg
import pytest
from psycopg.types.json import Jsonb

from models import audio
from tellmemore.catalog import FeedFetcher
from tellmemore.catalog.feeds.fetch import make_http_client
from tellmemore.index import SearchTables, connect
from tellmemore.processing import (
    TRANSCRIBER_UNAVAILABLE,
    EpisodeJobs,
    EpisodeProcessor,
    EpisodeWorker,
    Models,
    audio_prefix,
    make_queue,
)
from tellmemore.settings import LanceSettings, ProcessingSettings, S3Settings, Settings
from tellmemore.storage import ObjectStore, make_pool
from tests.storage.helpers import rows
from tests.support.audio_files import encode
from tests.support.http_server import LoopbackHTTPServer
from tests.support.real_models import Gated, LocalModels, local_models

DEADLINE_S = 1.0
BACKOFF_S = 1.0  # base = max: every retry waits 1 s (+-20 % jitter)
MAX_ATTEMPTS = 3
VTT = b"""WEBVTT

00:00:00.000 --> 00:00:06.000
The river bends south near the old mill, and the water runs slow and brown there.

00:00:06.000 --> 00:00:12.000
Herons wait in the shallows for the fish that come down with the spring floods.
"""


@pytest.fixture
def deadline_settings(
    settings: Settings, s3_settings: S3Settings, tmp_path: Path, clean_db: None
) -> Settings:
    processing = ProcessingSettings(
        max_attempts=MAX_ATTEMPTS,
        backoff_base_s=BACKOFF_S,
        backoff_max_s=BACKOFF_S,
        lease_s=2.0,  # renewed every second while an attempt waits: only the deadline ends it
        poll_s=0.2,
        concurrency=1,  # one slot: the second episode runs only because the first lets go
        transcribe_deadline_s=DEADLINE_S,
    )
    return settings.model_copy(
        update={
            "processing": processing,
            "s3": s3_settings,
            "lance": LanceSettings(location=str(tmp_path / "lance")),
        }
    )


@pytest.fixture
def search_indexes_restored(database_url: str) -> Iterator[None]:
    """The first stored episode registers the search index; leave the registry as found."""
    query = "SELECT name, embedding_model, active FROM search_indexes"
    with psycopg.connect(database_url, autocommit=True) as conn:
        before = {r[0]: r for r in conn.execute(query).fetchall()}
    yield
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM search_indexes WHERE NOT (name = ANY(%s))", (list(before),))
        for name, model, active in before.values():
            conn.execute(
                "UPDATE search_indexes SET embedding_model = %s, active = %s WHERE name = %s",
                (model, active, name),
            )


@dataclass(frozen=True)
class Running:
    jobs: EpisodeJobs
    worker: EpisodeWorker
    objects: ObjectStore


class WithPorts(Protocol):
    def ports(self) -> Models: ...


@asynccontextmanager
async def processing(
    settings: Settings, database_url: str, models: WithPorts
) -> AsyncIterator[Running]:
    """A real worker and processor on the real queue, with ``models`` behind the port."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE jobs")
    pool = make_pool(settings.database)
    await pool.open(wait=True)
    async with make_http_client(settings.feeds) as http:
        objects = ObjectStore(settings.s3)
        tables = SearchTables(
            connect(settings.lance, settings.s3), pool, settings.models.embedder, ttl_s=0.0
        )
        processor = EpisodeProcessor(settings, pool, objects, tables, models.ports(),
                                     FeedFetcher(settings.feeds, http))  # fmt: skip
        queue = make_queue(pool, settings.processing)
        worker = EpisodeWorker(queue, processor, pool, settings.processing, database_url)
        loop = asyncio.create_task(worker.run())
        try:
            yield Running(EpisodeJobs(pool, queue, settings.processing), worker, objects)
        finally:
            worker.stop()
            await asyncio.wait_for(loop, 10)
            await pool.close()


@pytest.fixture
async def running(
    deadline_settings: Settings, database_url: str, models: Gated
) -> AsyncIterator[Running]:
    async with processing(deadline_settings, database_url, models) as started:
        yield started


@pytest.fixture(scope="session")
def real_models() -> LocalModels:
    return local_models()


@pytest.fixture
def models(real_models: LocalModels) -> Gated:
    """The real models; no transcription is ever released (no transcriber capacity)."""
    return Gated(real_models)


def add_episode(database_url: str, podcast_id: UUID, title: str, **columns: Any) -> UUID:
    names = ["podcast_id", "identity_key", "title", "content_sha256", *columns]
    values = [podcast_id, uuid.uuid4().hex, title, "x", *columns.values()]
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            f"INSERT INTO episodes ({', '.join(names)}) VALUES "
            f"({', '.join(['%s'] * len(values))}) RETURNING id".encode(),
            values,
        ).fetchone()
    assert row is not None
    return UUID(str(row[0]))


def add_podcast(database_url: str, feed_url: str) -> UUID:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO podcasts (feed_url, title) VALUES (%s, 'Slow Water') RETURNING id",
            (feed_url,),
        ).fetchone()
    assert row is not None
    return UUID(str(row[0]))


def tone_wav(tmp_path: Path, seconds: float = 3.0) -> bytes:
    t = np.arange(int(seconds * audio.SAMPLE_RATE)) / audio.SAMPLE_RATE
    samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return encode(samples, tmp_path / "tone.wav", "pcm_s16le").read_bytes()


def state(database_url: str, episode_id: UUID) -> dict[str, Any]:
    (row,) = rows(
        database_url,
        "SELECT j.state, j.attempts, j.last_error_code, j.last_error, j.run_after,"
        " j.updated_at, e.status, e.error_code, e.error_message FROM jobs j"
        " JOIN episodes e ON e.id::text = j.key WHERE e.id = %s",
        episode_id,
    )
    return row


@pytest.mark.usefixtures("search_indexes_restored")
async def test_no_transcriber_capacity_fails_each_attempt_then_dead_letters(
    running: Running,
    models: Gated,
    database_url: str,
    feed_server: LoopbackHTTPServer,
    tmp_path: Path,
) -> None:
    key = uuid.uuid4().hex[:8]
    audio_url = feed_server.add(f"/deadline-{key}/tone.wav", body=tone_wav(tmp_path),
                                content_type="audio/wav")  # fmt: skip
    vtt_url = feed_server.add(f"/deadline-{key}/t.vtt", body=VTT, content_type="text/vtt")
    podcast_id = add_podcast(database_url, f"{feed_server.base_url}/deadline-{key}/feed.xml")
    stuck = add_episode(database_url, podcast_id, "Needs speech recognition",
                        enclosure_url=audio_url, enclosure_type="audio/wav")  # fmt: skip
    behind = add_episode(
        database_url, podcast_id, "Has the publisher's transcript",
        transcripts=Jsonb([{"url": vtt_url, "type": "text/vtt"}]),
    )  # fmt: skip
    # Queued in this order: the stuck one is claimed first and holds the only slot.
    assert await running.jobs.enqueue([stuck, behind]) == [stuck, behind]

    # Attempt 1 ends at the deadline: the reason is on the job and the episode, and the job
    # waits out its backoff in the queue.
    started = time.monotonic()
    # (the job is written first, the episode right after it)
    first = await until(database_url, stuck, lambda s: s["attempts"] == 1
                        and s["state"] == "queued" and s["error_code"] is not None)  # fmt: skip
    took = time.monotonic() - started
    assert first["last_error_code"] == TRANSCRIBER_UNAVAILABLE
    assert "within 1 s" in first["last_error"]
    assert (first["status"], first["error_code"]) == ("queued", TRANSCRIBER_UNAVAILABLE)
    backoff = (first["run_after"] - first["updated_at"]).total_seconds()
    assert BACKOFF_S * 0.79 <= backoff <= BACKOFF_S * 1.21
    assert DEADLINE_S <= took < DEADLINE_S + 5
    assert models.calls == models.cancelled == 1  # the waiting call was withdrawn, not leaked

    # The episode behind it is processed meanwhile, while the stuck one still has attempts.
    # (summarized by the real LLM on this machine's CPU: it may take a while)
    # (the worker finishes the job right after the episode's row is committed)
    done = await until(database_url, behind, lambda s: s["status"] == "done"
                       and s["state"] != "running", timeout_s=300)  # fmt: skip
    assert done["state"] == "done"
    (made,) = rows(database_url, "SELECT transcript_source, llm_model, embedding_model, summary"
                   " FROM episodes WHERE id = %s", behind)  # fmt: skip
    assert made["transcript_source"] == "publisher"
    assert made["llm_model"].startswith("llm:smollm2-135m@")
    assert made["embedding_model"].startswith("embedding:all-MiniLM-L6-v2@")
    assert made["summary"]["summary"].strip()
    assert state(database_url, stuck)["state"] != "dead"

    # Retried with backoff, and dead-lettered with the same reason after the last attempt.
    dead = await until(database_url, stuck, lambda s: s["status"] == "failed", timeout_s=30)
    assert (dead["attempts"], dead["last_error_code"]) == (MAX_ATTEMPTS, TRANSCRIBER_UNAVAILABLE)
    assert (dead["status"], dead["error_code"]) == ("failed", TRANSCRIBER_UNAVAILABLE)
    assert models.calls == models.cancelled == MAX_ATTEMPTS
    (failed,) = await running.jobs.failed()
    assert (failed.episode_id, failed.error_code) == (stuck, TRANSCRIBER_UNAVAILABLE)
    assert (running.worker.processed, running.worker.failed) == (1, MAX_ATTEMPTS)
    # Each attempt deleted the audio it staged.
    assert await asyncio.to_thread(running.objects.keys, audio_prefix(stuck)) == []


async def until(
    database_url: str,
    episode_id: UUID,
    ready: Callable[[dict[str, Any]], bool],
    *,
    timeout_s: float = 15,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        current = await asyncio.to_thread(state, database_url, episode_id)
        if ready(current):
            return current
        assert time.monotonic() < deadline, f"still {current}"
        await asyncio.sleep(0.05)


async def test_a_stopping_worker_hands_its_job_back_without_spending_an_attempt(
    deadline_settings: Settings,
    models: Gated,
    database_url: str,
    feed_server: LoopbackHTTPServer,
    tmp_path: Path,
) -> None:
    """A replica scaled in (or redeployed) stops its worker mid-episode: the job goes back to
    the queue at once with its attempt unspent, so scaling in never dead-letters work."""
    patient = deadline_settings.processing.model_copy(update={"transcribe_deadline_s": 60.0})
    settings = deadline_settings.model_copy(update={"processing": patient})
    key = uuid.uuid4().hex[:8]
    audio_url = feed_server.add(f"/stop-{key}/tone.wav", body=tone_wav(tmp_path),
                                content_type="audio/wav")  # fmt: skip
    podcast_id = add_podcast(database_url, f"{feed_server.base_url}/stop-{key}/feed.xml")
    episode = add_episode(database_url, podcast_id, "Interrupted",
                          enclosure_url=audio_url, enclosure_type="audio/wav")  # fmt: skip
    async with processing(settings, database_url, models) as running:
        assert await running.jobs.enqueue([episode]) == [episode]
        busy = await until(database_url, episode, lambda s: models.calls == 1)
        assert (busy["state"], busy["attempts"], busy["status"]) == ("running", 1, "processing")
    handed_back = state(database_url, episode)
    assert (handed_back["state"], handed_back["attempts"]) == ("queued", 0)
    assert handed_back["run_after"] <= handed_back["updated_at"]  # due at once, no backoff
    assert (handed_back["status"], handed_back["error_code"]) == ("queued", None)
    assert models.cancelled == 1
