"""A 20-minute episode processed online, end to end, by the real models (slow tier).

The worker, the processor, the queue, PostgreSQL, S3 and LanceDB are real, and so are Whisper,
the LLM and the embedder (:class:`tests.support.real_models.LocalModels`). The episode is real
speech: 20 minutes of the labelled topic-shift transcripts read by espeak-ng, served as an MP3
from loopback. What must hold for an episode of any length: the audio reaches Whisper in
chunks of at most ``chunk_max_s`` (never the whole file), sentences reach the embedder in
batches of at most ``SENTENCE_BATCH``, the summary is map-reduced within the LLM's context,
and the passages cover the whole episode within the segmenter's bounds. Wall time per step and
the process's peak memory are printed (``pytest -s``); the 60-minute and 3-hour figures are
``bench/long_episode.py``'s.
"""

from __future__ import annotations

import asyncio
import resource
import time
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pytest

from models import audio
from models.segmenter import SENTENCE_BATCH
from models.settings import EmbedderSettings, WhisperSettings
from models.types import Embeddings, RetrievalSegment, Summary, Transcript
from tellmemore.processing import Counter, Models
from tellmemore.settings import LanceSettings, Settings
from tests.storage.helpers import rows
from tests.storage.test_transcribe_deadline import (
    add_episode,
    add_podcast,
    processing,
    real_models,
    search_indexes_restored,
)
from tests.support.audio_files import synthesized, topic_script
from tests.support.http_server import LoopbackHTTPServer
from tests.support.real_models import LocalModels

__all__ = ["real_models", "search_indexes_restored"]  # the fixtures, used below by name

pytestmark = [pytest.mark.slow, pytest.mark.models]

T = TypeVar("T")
MINUTES = 20.0
QUERY = (
    "SELECT status, error_code, error_message, segment_count, audio_duration_s, summary"
    " FROM episodes WHERE id = %s"
)
CHUNK_MAX_S = 120.0


@dataclass
class Watched:
    """The real models behind the port, recording the size of every call they get."""

    models: LocalModels
    longest_chunk_s: float = 0.0
    chunks: int = 0
    largest_embedding: int = 0
    steps: dict[str, float] = field(default_factory=dict)

    async def transcribe(self, samples: npt.NDArray[np.float32], offset_s: float) -> Transcript:
        self.chunks += 1
        self.longest_chunk_s = max(self.longest_chunk_s, len(samples) / audio.SAMPLE_RATE)
        return await self._timed("transcribe", self.models.transcribe(samples, offset_s))

    async def summarize(
        self, segments: Sequence[RetrievalSegment], title: str | None,
        progress: Counter | None = None,
    ) -> Summary:  # fmt: skip
        return await self._timed("summarize", self.models.summarize(segments, title, progress))

    async def embed(
        self, texts: Sequence[str], space: EmbedderSettings | None = None
    ) -> Embeddings:
        self.largest_embedding = max(self.largest_embedding, len(texts))
        return await self._timed("embed", self.models.embed(texts, space))

    async def _timed(self, step: str, call: Awaitable[T]) -> T:
        started = time.perf_counter()
        try:
            return await call
        finally:
            self.steps[step] = self.steps.get(step, 0.0) + time.perf_counter() - started

    def ports(self) -> Models:
        return Models(transcribe=self.transcribe, summarize=self.summarize, embed=self.embed)


@pytest.mark.usefixtures("search_indexes_restored")
async def test_a_twenty_minute_episode_is_processed_in_bounded_pieces(
    settings: Settings,
    s3_settings: Any,
    database_url: str,
    feed_server: LoopbackHTTPServer,
    tmp_path: Path,
    clean_db: None,
    real_models: LocalModels,
) -> None:
    started = time.perf_counter()
    mp3 = await asyncio.to_thread(synthesized, topic_script(MINUTES), tmp_path / "long.mp3")
    made_s = time.perf_counter() - started
    length_s = len(audio.decode(mp3)) / audio.SAMPLE_RATE
    assert length_s >= MINUTES * 60
    whisper = WhisperSettings(chunk_max_s=CHUNK_MAX_S, chunk_min_s=30.0)
    settings = settings.model_copy(update={
        "s3": s3_settings,
        "lance": LanceSettings(location=str(tmp_path / "lance")),
        "models": settings.models.model_copy(update={"whisper": whisper}),
        "processing": settings.processing.model_copy(update={"poll_s": 0.2}),
    })  # fmt: skip
    key = uuid.uuid4().hex[:8]
    url = feed_server.add(f"/long-{key}/episode.mp3", body=mp3.read_bytes(),
                          content_type="audio/mpeg")  # fmt: skip
    podcast_id = add_podcast(database_url, f"{feed_server.base_url}/long-{key}/feed.xml")
    episode = add_episode(database_url, podcast_id, "Twenty minutes on many things",
                          enclosure_url=url, enclosure_type="audio/mpeg")  # fmt: skip
    watched = Watched(real_models)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    began = time.perf_counter()
    async with processing(settings, database_url, watched) as running:
        assert await running.jobs.enqueue([episode], force=True) == [episode]
        deadline = time.monotonic() + 1500
        while True:
            (row,) = rows(database_url, QUERY, episode)
            if row["status"] in ("done", "failed"):
                break
            assert time.monotonic() < deadline, row
            await asyncio.sleep(1.0)
    wall_s = time.perf_counter() - began
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert row["status"] == "done", row
    steps = ", ".join(f"{k} {v:.0f} s" for k, v in watched.steps.items())
    print(f"\n{length_s / 60:.1f} min of speech (made in {made_s:.0f} s): processed in "
          f"{wall_s:.0f} s ({steps}); {watched.chunks} chunks, longest "
          f"{watched.longest_chunk_s:.0f} s; largest embedding call {watched.largest_embedding}"
          f" texts; peak RSS {peak_before / 1024:.0f} -> {peak_after / 1024:.0f} MiB")  # fmt: skip

    # Whisper never saw the whole file, the embedder never one giant batch.
    assert watched.chunks >= length_s / CHUNK_MAX_S
    assert watched.longest_chunk_s <= CHUNK_MAX_S + 1.0
    assert watched.largest_embedding <= SENTENCE_BATCH
    assert abs(row["audio_duration_s"] - length_s) < 2.0
    # The passages cover the episode, each within the segmenter's bounds (20-120 s).
    assert length_s / 120.0 <= row["segment_count"] <= length_s / 20.0
    summary = row["summary"]
    assert len(summary["summary"]) > 50 and len(summary["chapters"]) >= 3
    assert summary["chapters"][-1]["end_s"] > length_s - 120.0
