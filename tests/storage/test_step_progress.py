"""``GET /episodes/{id}`` shows the running step with how far it is, as the processor counts
it: seconds of audio transcribed of the episode's length, chunk by chunk; sentences embedded
for the segmenter; the LLM's requests answered; the texts embedded for the index; and nothing
once the episode is done. Only who may see the episode sees it (a private podcast's status is
news too).

The API, the queue, the worker, the processor, PostgreSQL, S3 and the models are real: the
episode is real speech (the start of a demo episode), and the real Whisper transcribes one chunk
each time the test lets a call through the gate in front of it
(:class:`tests.support.real_models.Gated`), so the status can be read between chunks; the
real embedder and LLM are held the same way between their calls.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from httpx import AsyncClient

from models import audio
from models.settings import WhisperSettings
from tellmemore.ops import DEMO_SCRIPTS
from tellmemore.settings import Settings
from tests.conftest import bearer, register, serve
from tests.storage.test_transcribe_deadline import (
    add_episode,
    add_podcast,
    processing,
    real_models,
    search_indexes_restored,
)
from tests.support.audio_files import encode
from tests.support.http_server import LoopbackHTTPServer
from tests.support.real_models import Gated, LocalModels

__all__ = ["real_models", "search_indexes_restored"]  # the fixtures, used below by name

DEMO = Path(__file__).resolve().parents[2] / "tellmemore" / "ops" / "demo"
EPISODE = "tmm-demo-0003"  # the demo episode whose cue times are published (its WebVTT)
SENTENCES = 5  # about 28 s: cut into chunks of at most 11 s
CUE = re.compile(r"(\d+):(\d\d):(\d\d\.\d+) --> (\d+):(\d\d):(\d\d\.\d+)")


def seconds(h: str, m: str, s: str) -> float:
    return int(h) * 3600 + int(m) * 60 + float(s)


def spoken(tmp_path: Path) -> tuple[bytes, float, str]:
    """The demo episode's first sentences, cut in the pause after the last one, as a wav: its
    bytes, its length and what is said in it."""
    vtt = (DEMO / "transcripts" / f"{EPISODE}.vtt").read_text()
    cues = [(seconds(*c.groups()[:3]), seconds(*c.groups()[3:])) for c in CUE.finditer(vtt)]
    cut = (cues[SENTENCES - 1][1] + cues[SENTENCES][0]) / 2
    samples = audio.decode(DEMO / "audio" / f"{EPISODE}.mp3")[: int(cut * audio.SAMPLE_RATE)]
    (script,) = [d for d in DEMO_SCRIPTS if d.guid == EPISODE]
    wav = encode(samples, tmp_path / "speech.wav", "pcm_s16le")
    return (
        wav.read_bytes(),
        len(samples) / audio.SAMPLE_RATE,
        " ".join(script.sentences[:SENTENCES]),
    )


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


async def status(http: AsyncClient, episode_id: UUID) -> dict[str, Any]:
    response = await http.get(f"/episodes/{episode_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def until(
    http: AsyncClient,
    episode_id: UUID,
    ready: Callable[[dict[str, Any]], bool],
    *,
    timeout_s: float = 30,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        current = await status(http, episode_id)
        if ready(current):
            return current
        assert time.monotonic() < deadline, f"still {current}"
        await asyncio.sleep(0.05)


async def counted(
    http: AsyncClient, episode_id: UUID, step: str, *, timeout_s: float = 30
) -> dict[str, Any]:
    """The status once ``step`` runs and its size is known."""
    return await until(http, episode_id, lambda s: s["progress"] is not None
                       and s["progress"]["step"] == step
                       and s["progress"]["total"] is not None, timeout_s=timeout_s)  # fmt: skip


@pytest.mark.usefixtures("search_indexes_restored")
async def test_the_status_counts_the_audio_transcribed_for_who_may_see_it(
    settings: Settings,
    s3_settings: Any,
    database_url: str,
    feed_server: LoopbackHTTPServer,
    tmp_path: Path,
    clean_db: None,
    real_models: LocalModels,
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
    body, length_s, said = spoken(tmp_path)
    audio_url = feed_server.add(f"/progress-{key}/speech.wav", body=body,
                                content_type="audio/wav")  # fmt: skip
    podcast_id = add_podcast(database_url, f"{feed_server.base_url}/progress-{key}/feed.xml")
    episode = add_episode(database_url, podcast_id, "Why CRISPR patents are still contested",
                          enclosure_url=audio_url, enclosure_type="audio/wav")  # fmt: skip
    models = Gated(real_models, hold_embeddings=True, hold_answers=True)
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
                                           "total": round(length_s), "unit": "seconds"}  # fmt: skip
            # Someone who may not see the private podcast learns nothing, progress included.
            hidden = await stranger.get(f"/episodes/{episode}")
            assert hidden.status_code == 404 and "progress" not in hidden.text

            models.release()  # one chunk of at most 11 s
            first = await until(owner, episode,
                                lambda s: (s["progress"] or {}).get("done", 0) > 0)  # fmt: skip
            assert first["progress"]["step"] == "transcribing"
            assert 2 <= first["progress"]["done"] <= 11 < length_s

            models.release(10)
            # Segmenting: the sentences embedded (one batch for so short an episode).
            step = await counted(owner, episode, "segmenting")
            assert step["progress"]["done"] == 0 and 3 <= step["progress"]["total"] <= 10
            assert step["progress"]["unit"] == "sentences"
            models.release_embeddings()
            # Summarizing: the LLM's requests (a summary, a title per chapter) on this CPU.
            step = await counted(owner, episode, "summarizing", timeout_s=300)
            assert step["progress"]["done"] == 0 and step["progress"]["unit"] == "requests"
            requests = step["progress"]["total"]
            assert requests >= 2
            models.release_answers()
            step = await until(owner, episode, lambda s: (s["progress"] or {}).get("done") == 1,
                               timeout_s=300)  # fmt: skip
            assert step["progress"] == {"step": "summarizing", "done": 1, "total": requests,
                                        "unit": "requests"}  # fmt: skip
            models.release_answers(10)
            # Embedding: the passages and the summary (their sentences are the segmenter's).
            step = await until(owner, episode, lambda s: s["processing_step"] == "embedding"
                               and (s["progress"] or {}).get("unit") == "texts",
                               timeout_s=300)  # fmt: skip
            assert step["progress"]["step"] == "embedding" and step["progress"]["done"] == 0
            assert step["progress"]["unit"] == "texts"
            models.release_embeddings(10)
            done = await until(owner, episode, lambda s: s["status"] == "done", timeout_s=60)
            assert done["progress"] is None and done["processing_step"] is None
            assert models.calls >= 3  # ~28 s in chunks of at most 11 s
            # What was said, as the real Whisper heard it, chunk after chunk.
            response = await owner.get(f"/episodes/{episode}/transcript")
            assert response.status_code == 200, response.text
            heard = words(" ".join(s["text"] for s in response.json()["segments"]))
            expected = words(said)
            assert len(heard & expected) >= 0.8 * len(expected), (said, heard)
            assert {"california", "institute"} <= heard
        with psycopg.connect(database_url, autocommit=True) as conn:
            row = conn.execute("SELECT processing_progress FROM episodes WHERE id = %s",
                               (episode,)).fetchone()  # fmt: skip
        assert row == (None,)  # cleared with the outcome, not only hidden
