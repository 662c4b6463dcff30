"""One episode from enclosure to search index.

Steps, each recorded on the episode row so the API can show progress:
1. **transcript**: the publisher's own (``podcast:transcript``) when there is a usable one, else
   the enclosure is downloaded (limits and content checks), staged in S3 under ``audio/``, cut
   at pauses into chunks that are transcribed concurrently (across Serve replicas), stitched;
2. **segment** into 20-120 s retrieval passages with stable ids, cut where the topic changes
   (the sentences embedded in bounded batches, in the configured embedding space);
3. **summarize** with the LLM; 4. **embed** the passages and the summary;
5. **store**: transcript JSON to S3, passages and summary merged into LanceDB on their ids (a
   rerun replaces, never duplicates) in the active search index (embedded in its space),
   outputs and model versions to PostgreSQL, committed only while that index is still the
   active one (:func:`tellmemore.index.registry.still_active`).

The staged audio is deleted when the attempt ends, success or handled failure; a worker that
crashes leaves it, and the attempt that reclaims the job reuses it instead of downloading again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from models import audio
from models.captions import transcript_to_dict
from models.errors import ModelError
from models.segmenter import segment_transcript
from models.types import Chapter, RetrievalSegment, Summary, Transcript
from models.whisper import stitch
from tellmemore.catalog import FeedFetcher
from tellmemore.errors import CatalogError
from tellmemore.index import EpisodeMeta, SearchTables, registry
from tellmemore.metrics import STAGE_SECONDS
from tellmemore.processing import policy, rows
from tellmemore.processing.chapters import chapters_doc, publisher_chapters
from tellmemore.processing.download import (
    DownloadLimits,
    delete_staged,
    download_enclosure,
    stage_audio,
)
from tellmemore.processing.errors import TRANSCRIBER_UNAVAILABLE, ProcessingError
from tellmemore.processing.ports import Models
from tellmemore.processing.progress import StepProgress
from tellmemore.processing.publisher import publisher_transcript
from tellmemore.processing.sentences import (
    SegmenterSentences,
    passage_sentence_vectors,
    segmenter_sentences,
)
from tellmemore.settings import Settings
from tellmemore.storage import ObjectStore, StorageError

log = logging.getLogger(__name__)
# Switch-overs one episode's store step follows before it gives up (and is retried later).
_SWITCHES = 3


@dataclass(frozen=True)
class Outcome:
    episode_id: UUID
    transcript_source: str
    segment_count: int
    duration_s: float


def audio_prefix(episode_id: UUID) -> str:
    """Staged audio is ``audio/<episode id><ext>``
    (see :func:`tellmemore.processing.download.stage_audio`)."""
    return f"audio/{episode_id}"


def transcript_key(episode_id: UUID) -> str:
    return f"transcripts/{episode_id}.json"


class EpisodeProcessor:
    def __init__(
        self,
        settings: Settings,
        pool: AsyncConnectionPool,
        objects: ObjectStore,
        tables: SearchTables,
        models: Models,
        fetcher: FeedFetcher,
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._objects = objects
        self._tables = tables
        self._models = models
        self._fetcher = fetcher
        self._limits = DownloadLimits.from_settings(settings)
        self._stages: dict[UUID, tuple[str, float]] = {}

    async def record_settings(self) -> None:
        """Record what this processor runs with, for batch runs to compare
        (:mod:`tellmemore.processing.policy`)."""
        async with self._pool.connection() as conn:
            await policy.record(conn, self._settings)

    async def process(self, episode_id: UUID, *, attempt: int = 1) -> Outcome:
        """Process one episode end to end; each stage's time goes to the stage histogram."""
        try:
            return await self._process(episode_id, attempt)
        finally:
            self._end_stage(episode_id)

    async def _process(self, episode_id: UUID, attempt: int) -> Outcome:
        async with self._pool.connection() as conn:
            item = await rows.work_item(conn, episode_id)
            if item is None:
                raise ProcessingError(
                    "episode_not_found", "The episode no longer exists.", retryable=False
                )
            await rows.started(conn, episode_id, attempt)

        transcript, source = await self._transcript(item)
        await self._step(episode_id, "segmenting")
        segments, sentences = await self._segment(transcript, episode_id)
        if not segments:
            raise ProcessingError(
                "no_speech", "No speech was found in this episode.", retryable=False
            )
        await self._step(episode_id, "summarizing")
        async with self._counting(episode_id, "summarizing", "requests") as progress:
            summary = await self._models.summarize(segments, item.title, progress)
        chapters: tuple[Chapter, ...] = ()
        if item.chapters_url:
            chapters = await publisher_chapters(self._fetcher, item.chapters_url,
                                                duration_s=transcript.duration_s or None,
                                                episode_id=str(episode_id))  # fmt: skip
        return await self._store(item, transcript, source, segments, summary, chapters,
                                 sentences)  # fmt: skip

    def _counting(self, episode_id: UUID, step: str, unit: str, total: int | None = None
                  ) -> StepProgress:  # fmt: skip
        return StepProgress(self._pool, episode_id, step, total=total, unit=unit)

    async def _segment(
        self, transcript: Transcript, episode_id: UUID
    ) -> tuple[list[RetrievalSegment], SegmenterSentences | None]:
        """Passages cut at topic shifts: sentence vectors from the configured embedder (not the
        active index's space: the cuts, and the segmenter's recorded id, must not depend on it).
        The vectors are kept: storing reuses them when the index embeds with the same model."""
        async with self._counting(episode_id, "segmenting", "sentences") as progress:
            sentences = await segmenter_sentences(self._models.embed, transcript, progress)
        vectors = sentences.vectors if sentences else None
        return segment_transcript(transcript, str(episode_id), sentence_vectors=vectors), sentences

    async def _store(
        self,
        item: rows.WorkItem,
        transcript: Transcript,
        source: str,
        segments: list[RetrievalSegment],
        summary: Summary,
        publisher: tuple[Chapter, ...],
        sentences: SegmenterSentences | None = None,
    ) -> Outcome:
        """Embed in the active index's space, write, and commit while that index is still the
        active one (else again into the one now active: a switch-over never leaves an online
        episode behind in the old index only)."""
        episode_id = item.episode_id
        key = transcript_key(episode_id)
        await asyncio.to_thread(self._objects.put_json, key, transcript_to_dict(transcript))
        meta = EpisodeMeta(
            episode_id=str(episode_id),
            podcast_id=str(item.podcast_id),
            episode_title=item.title,
            podcast_title=item.podcast_title,
            published_at=item.published_at,
        )
        summary_doc = {
            "summary": summary.summary,
            "topics": list(summary.topics),
            "chapters": [
                {"start_s": c.start_s, "end_s": c.end_s, "title": c.title} for c in summary.chapters
            ],
        }
        # None keeps what an earlier run fetched (the document may only be down for now).
        fetched = bool(publisher) or not item.chapters_url
        kept_chapters = chapters_doc(publisher) if fetched else None
        for _ in range(_SWITCHES):
            await self._step(episode_id, "embedding")
            index = await self._tables.active.current()
            # The passages' sentences too: search highlights a hit found by meaning with
            # them, rather than embedding sentences while a listener waits.
            texts = [s.text for s in segments]
            async with self._counting(episode_id, "embedding", "texts") as progress:
                embedded = await self._models.embed([*texts, summary.summary], index.embedder)
                progress.add(len(texts) + 1)
                vectors = embedded.vectors
                sentence_vectors = await passage_sentence_vectors(
                    self._models.embed, texts, embedded, space=index.embedder,
                    configured=self._settings.models.embedder, segmenter=sentences,
                    progress=progress,
                )  # fmt: skip
            await self._step(episode_id, "storing")
            store = await self._tables.store_for_write(index, embedded.dimension, embedded.model.id)
            await asyncio.to_thread(
                store.write_episode,
                meta,
                segments,
                vectors[:-1],
                summary,
                vectors[-1],
                embedding_model=embedded.model,
                sentence_vectors=sentence_vectors,
            )
            outputs = rows.Outputs(
                transcript_key=key,
                transcript_source=source,
                transcript_model=transcript.model.id,
                segmenter_model=segments[0].model.id,
                llm_model=summary.model.id,
                embedding_model=embedded.model.id,
                segment_count=len(segments),
                audio_duration_s=transcript.duration_s or None,
                summary=summary_doc,
                publisher_chapters=kept_chapters,
            )
            async with self._pool.connection() as conn, conn.transaction():
                if await registry.still_active(conn, index.name):
                    await rows.done(conn, episode_id, outputs)
                    return Outcome(episode_id, source, len(segments), transcript.duration_s)
            # Readers were switched while this episode was embedded: the switch-over's catch-up
            # may have looked already, so the episode goes into the new index too.
            log.info("search index switched mid-episode; writing it again",
                     extra={"episode_id": str(episode_id), "index": index.name})  # fmt: skip
            self._tables.active.forget()
        raise ProcessingError(
            "index_switching",
            "The search index was switched over several times while this episode was stored.",
            retryable=True,
        )

    # ---- the transcript ----------------------------------------------------------------

    async def _transcript(self, item: rows.WorkItem) -> tuple[Transcript, str]:
        if self._settings.processing.prefer_publisher_transcript and item.transcripts:
            await self._step(item.episode_id, "fetching_transcript")
            found = await publisher_transcript(
                self._fetcher,
                item.transcripts,
                language=item.language,
                episode_id=str(item.episode_id),
            )
            if found is not None:
                return found, "publisher"
        if not item.enclosure_url:
            raise ProcessingError(
                "no_audio", "The episode has no audio enclosure to transcribe.", retryable=False
            )
        return await self._asr(item), "asr"

    async def _asr(self, item: rows.WorkItem) -> Transcript:
        assert item.enclosure_url is not None
        prefix = audio_prefix(item.episode_id)
        staged: list[str] = []
        with tempfile.TemporaryDirectory(prefix="tmm-audio-") as tmp:
            local = Path(tmp) / "enclosure"
            try:
                await self._step(item.episode_id, "downloading")
                staged = await asyncio.to_thread(self._objects.keys, prefix)
                if staged:
                    # A crashed attempt staged it already: no second download from the publisher.
                    await asyncio.to_thread(self._objects.download_file, staged[0], local)
                else:
                    downloaded = await download_enclosure(item.enclosure_url, local, self._limits)
                    staged = [await stage_audio(self._objects, str(item.episode_id), downloaded)]
                await self._step(item.episode_id, "transcribing")
                return await self._transcribe_file(local, item.episode_id)
            finally:
                for key in staged:
                    with contextlib.suppress(ProcessingError):
                        await delete_staged(self._objects, key)

    async def _transcribe_file(self, path: Path, episode_id: UUID) -> Transcript:
        """Chunks cut at pauses, transcribed concurrently, stitched in time order; the status
        shows the seconds of audio transcribed (chunks are cut as they go, so their number is
        known only at the end; the length is known from the container at once)."""
        settings = self._settings.models.whisper
        allow_video = self._settings.models.allow_video
        info = await asyncio.to_thread(audio.probe, path, allow_video=allow_video)
        chunks: Iterator[audio.AudioChunk] = audio.chunks_at_silences(
            path,
            max_chunk_s=settings.chunk_max_s,
            min_chunk_s=settings.chunk_min_s,
            allow_video=allow_video,
        )
        gate = asyncio.Semaphore(self._settings.processing.transcribe_parallel_chunks)
        progress = StepProgress(self._pool, episode_id, "transcribing",
                                total=info.duration_s or None, unit="seconds")  # fmt: skip

        async def one(chunk: audio.AudioChunk) -> Transcript:
            try:
                part = await self._transcribe_chunk(chunk)
                progress.add(chunk.duration_s)
                return part
            finally:
                gate.release()

        tasks: list[asyncio.Task[Transcript]] = []
        async with progress:
            try:
                while True:
                    await gate.acquire()
                    chunk = await asyncio.to_thread(next, chunks, None)
                    if chunk is None:
                        gate.release()
                        break
                    tasks.append(asyncio.create_task(one(chunk)))
                parts = await asyncio.gather(*tasks)
            except BaseException:
                for task in tasks:
                    task.cancel()
                raise
        if not parts:
            raise ProcessingError("no_speech", "The audio is empty.", retryable=False)
        return stitch(parts)

    async def _transcribe_chunk(self, chunk: audio.AudioChunk) -> Transcript:
        """One chunk, within ``processing.transcribe_deadline_s``: a transcriber that never
        answers (no replica can be placed) must not hold the episode, and its renewed lease,
        forever. Cancelling the call also withdraws it from a Serve handle's queue."""
        deadline_s = self._settings.processing.transcribe_deadline_s
        scope = asyncio.timeout(deadline_s)
        try:
            async with scope:
                return await self._models.transcribe(chunk.samples, chunk.start_s)
        except TimeoutError:
            if not scope.expired():
                raise  # the transcriber's own timeout, not ours
            raise ProcessingError(
                TRANSCRIBER_UNAVAILABLE,
                f"No transcript for the audio at {chunk.start_s:.0f} s within {deadline_s:g} s:"
                " the speech recognition service has no capacity (or does not answer).",
                retryable=True,
            ) from None

    async def _step(self, episode_id: UUID, name: str) -> None:
        """Enter stage ``name``: recorded on the episode, and the previous stage's time ends."""
        self._end_stage(episode_id)
        self._stages[episode_id] = (name, time.perf_counter())
        async with self._pool.connection() as conn:
            await rows.step(conn, episode_id, name)

    def _end_stage(self, episode_id: UUID) -> None:
        current = self._stages.pop(episode_id, None)
        if current is not None:
            STAGE_SECONDS.labels(current[0]).observe(time.perf_counter() - current[1])


def error_of(exc: BaseException) -> tuple[str, str]:
    """A failure's machine-readable code and a sentence for people."""
    if isinstance(exc, ProcessingError | ModelError | CatalogError | StorageError):
        message = getattr(exc, "message", None) or str(exc)
        return str(exc.code), message
    return "internal_error", f"An unexpected error stopped processing: {type(exc).__name__}: {exc}"
