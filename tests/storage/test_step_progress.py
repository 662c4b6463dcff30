"""``GET /episodes/{id}`` shows the running step with how far it is, as the processor counts
it: seconds of audio transcribed of the episode's length, chunk by chunk, and nothing once
the episode is done. Only who may see the episode sees it (a private podcast's status is
news too).

The API, the queue, the worker, the processor, PostgreSQL and S3 are real; the transcriber is
a stand-in behind the :class:`~tellmemore.processing.Models` port that answers one chunk each
time the test lets it, so the status can be read between chunks.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
import numpy.typing as npt
import psycopg
import pytest
from httpx import AsyncClient

from models.settings import WhisperSettings
from models.types import ModelRef, Transcript, TranscriptSegment
from tellmemore.settings import Settings
from tests.conftest import bearer, register, serve
from tests.storage.test_transcribe_deadline import (
    NoCapacity,
    add_episode,
    add_podcast,
    processing,
    search_indexes_restored,
    tone_wav,
)
from tests.support.http_server import LoopbackHTTPServer

__all__ = ["search_indexes_restored"]  # the fixture, used below by name

SECONDS = 25.0  # cut into chunks of at most 11 s


@dataclass
class OneChunkAtATime(NoCapacity):
    """Transcribes a chunk each time ``release`` is called."""

    permits: asyncio.Queue[None] = field(default_factory=asyncio.Queue)

    def release(self, chunks: int = 1) -> None:
        for _ in range(chunks):
            self.permits.put_nowait(None)

    async def transcribe(self, samples: npt.NDArray[np.float32], offset_s: float) -> Transcript:
        self.calls += 1
        await self.permits.get()
        end = offset_s + len(samples) / 16_000
        text = "The river bends south near the old mill, and herons wait in the shallows."
        return Transcript((TranscriptSegment(offset_s, end, text),), "en", end,
                          ModelRef("asr", "stand-in", "1"))  # fmt: skip


async def status(http: AsyncClient, episode_id: UUID) -> dict[str, Any]:
    response = await http.get(f"/episodes/{episode_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def until(
    http: AsyncClient, episode_id: UUID, ready: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        current = await status(http, episode_id)
        if ready(current):
            return current
        assert time.monotonic() < deadline, f"still {current}"
        await asyncio.sleep(0.05)


@pytest.mark.usefixtures("search_indexes_restored")
async def test_the_status_counts_the_audio_transcribed_for_who_may_see_it(
    settings: Settings,
    s3_settings: Any,
    database_url: str,
    feed_server: LoopbackHTTPServer,
    tmp_path: Path,
    clean_db: None,
) -> None:
    from tellmemore.settings import LanceSettings

    whisper = WhisperSettings(chunk_max_s=11.0, chunk_min_s=2.0)
    settings = settings.model_copy(update={
        "s3": s3_settings,
        "lance": LanceSettings(location=str(tmp_path / "lance")),
        "models": settings.models.model_copy(update={"whisper": whisper}),
        "processing": settings.processing.model_copy(update={"poll_s": 0.2}),
    })  # fmt: skip
    key = uuid.uuid4().hex[:8]
    audio_url = feed_server.add(f"/progress-{key}/tone.wav", body=tone_wav(tmp_path, SECONDS),
                                content_type="audio/wav")  # fmt: skip
    podcast_id = add_podcast(database_url, f"{feed_server.base_url}/progress-{key}/feed.xml")
    episode = add_episode(database_url, podcast_id, "Slow water, counted",
                          enclosure_url=audio_url, enclosure_type="audio/wav")  # fmt: skip
    models = OneChunkAtATime()
    async with serve(settings) as owner, serve(settings) as stranger:
        owner_id = (registered := await register(owner))["user"]["id"]
        owner.headers.update(bearer(registered["tokens"]))
        stranger.headers.update(bearer((await register(stranger))["tokens"]))
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("UPDATE podcasts SET private = true WHERE id = %s", (podcast_id,))
            conn.execute("INSERT INTO subscriptions (user_id, podcast_id) VALUES (%s, %s)",
                         (owner_id, podcast_id))  # fmt: skip

        async with processing(settings, database_url, models) as running:
            assert await running.jobs.enqueue([episode], force=True) == [episode]
            # The step is entered first, its size counted a moment later (done/total null).
            waiting = await until(owner, episode, lambda s: s["progress"] is not None
                                  and s["progress"]["total"] is not None)  # fmt: skip
            assert waiting["status"] == "processing"
            assert waiting["progress"] == {"step": "transcribing", "done": 0,
                                           "total": round(SECONDS), "unit": "seconds"}  # fmt: skip
            # Someone who may not see the private podcast learns nothing, progress included.
            hidden = await stranger.get(f"/episodes/{episode}")
            assert hidden.status_code == 404 and "progress" not in hidden.text

            models.release()  # one chunk of at most 11 s
            first = await until(owner, episode,
                                lambda s: (s["progress"] or {}).get("done", 0) > 0)  # fmt: skip
            assert first["progress"]["step"] == "transcribing"
            assert 2 <= first["progress"]["done"] <= 11 < SECONDS

            models.release(10)
            done = await until(owner, episode, lambda s: s["status"] == "done")
            assert done["progress"] is None and done["processing_step"] is None
            assert models.calls >= 3  # 25 s in chunks of at most 11 s (a tone has no pause)
        with psycopg.connect(database_url, autocommit=True) as conn:
            row = conn.execute("SELECT processing_progress FROM episodes WHERE id = %s",
                               (episode,)).fetchone()  # fmt: skip
        assert row == (None,)  # cleared with the outcome, not only hidden
