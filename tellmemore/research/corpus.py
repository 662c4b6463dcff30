"""Loading the labelled search-evaluation corpus as a processed catalog.

The corpus (``tellmemore/research/search_eval/``) holds podcasts whose episodes come as timed
passages
already. Loading writes them exactly where processing would: podcast and episode rows in
PostgreSQL (status ``done``) and passages plus a summary per episode in LanceDB, embedded with
the real model. Search tests, the quality benchmark and notebooks then run against real tables;
:func:`store_eval_passages` writes the LanceDB half alone, for callers that only search.

Ids are deterministic (UUID v5 of the corpus ids, ``tellmemore.research.metrics.entity_id``),
so loading
twice changes nothing and the labels' passage ids map to stored segment ids with
:func:`~tellmemore.research.metrics.segment_id`. Given an object store,
each episode's transcript (its passages as timed segments) is written to S3 as well, so the
catalog is complete for research: ``python -m tellmemore.research.corpus`` loads it into the
configured database, LanceDB tables and bucket (the research notebooks' demo catalog).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from models.captions import transcript_to_dict
from models.segmenter import join_embeddings, sentence_batches
from models.settings import EmbedderSettings
from models.types import (
    Embeddings,
    ModelRef,
    RetrievalSegment,
    Summary,
    Transcript,
    TranscriptSegment,
)
from tellmemore.index import EpisodeMeta, SegmentStore
from tellmemore.processing import Embed, transcript_key
from tellmemore.research.metrics import EvalEpisode, EvalSet, entity_id, segment_id
from tellmemore.search import by_passage, passage_sentences
from tellmemore.storage import ObjectStore

_SEGMENTER = ModelRef("segmenter", "corpus-passages", "1")
_TRANSCRIPT = ModelRef("publisher", "corpus", "1")
_SUMMARIZER = ModelRef("llm", "corpus-first-passages", "1")


@dataclass(frozen=True)
class LoadedCatalog:
    podcasts: int
    episodes: int
    segments: int


def _summary(episode: EvalEpisode) -> Summary:
    """A stand-in summary (the episode's opening sentences): the corpus has no LLM summary and
    search over summaries needs a row per episode."""
    opening = " ".join(p.text for p in episode.passages[:2])
    return Summary(
        summary=opening[:600],
        topics=(),
        chapters=(),
        model=_SUMMARIZER,
    )


async def load_eval_catalog(
    eval_set: EvalSet,
    pool: AsyncConnectionPool,
    store: SegmentStore,
    embed: Embed,
    *,
    enclosure_base: str = "http://127.0.0.1:8000/demo/audio",
    objects: ObjectStore | None = None,
    cache_dir: Path | None = None,
) -> LoadedCatalog:
    """Write ``eval_set`` into PostgreSQL and LanceDB (idempotent); with ``objects``, the
    transcripts too, and the episodes record what made each output as processing would;
    ``cache_dir`` keeps the embeddings (:func:`store_eval_passages`)."""
    async with pool.connection() as conn:
        for podcast in eval_set.podcasts:
            podcast_uuid = entity_id(podcast.id)
            await conn.execute(
                "INSERT INTO podcasts (id, feed_url, title) VALUES (%s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title",
                (podcast_uuid, f"https://eval.tellmemore.invalid/{podcast.id}.xml", podcast.title),
            )
            for episode in podcast.episodes:
                await conn.execute(
                    "INSERT INTO episodes (id, podcast_id, identity_key, guid, title,"
                    " published_at, duration_s, enclosure_url, enclosure_type, content_sha256,"
                    " status, segment_count) VALUES (%s, %s, %s, %s, %s, %s, %s, %s,"
                    " 'audio/mpeg', %s, 'done', %s) ON CONFLICT (id) DO NOTHING",
                    (
                        entity_id(episode.id),
                        podcast_uuid,
                        f"guid:{episode.id}",
                        episode.id,
                        episode.title,
                        episode.published_at,
                        round(episode.duration_s),
                        f"{enclosure_base}/{episode.id}.mp3",
                        episode.id,
                        len(episode.passages),
                    ),
                )
    segments_written = await store_eval_passages(eval_set, store, embed, cache_dir=cache_dir)
    if objects is not None:
        await _store_transcripts(eval_set, pool, objects, embed)
    episodes = sum(len(p.episodes) for p in eval_set.podcasts)
    return LoadedCatalog(len(eval_set.podcasts), episodes, segments_written)


def eval_transcript(episode: EvalEpisode) -> Transcript:
    """The episode's passages as a publisher transcript (one timed segment per passage)."""
    segments = tuple(TranscriptSegment(p.start_s, p.end_s, p.text) for p in episode.passages)
    return Transcript(segments, "en", episode.duration_s, _TRANSCRIPT)


async def _store_transcripts(
    eval_set: EvalSet, pool: AsyncConnectionPool, objects: ObjectStore, embed: Embed
) -> None:
    embedding_model = (await embed(["model id"])).model.id
    await asyncio.to_thread(objects.ensure_bucket)
    async with pool.connection() as conn:
        for podcast in eval_set.podcasts:
            for episode in podcast.episodes:
                episode_uuid = entity_id(episode.id)
                key = transcript_key(episode_uuid)
                document = transcript_to_dict(eval_transcript(episode))
                await asyncio.to_thread(objects.put_json, key, document)
                summary = _summary(episode)
                await conn.execute(
                    "UPDATE episodes SET transcript_key = %s, transcript_source = 'publisher', "
                    "transcript_model = %s, segmenter_model = %s, llm_model = %s, "
                    "embedding_model = %s, audio_duration_s = %s, processed_at = now(), "
                    "summary = %s WHERE id = %s",
                    (key, _TRANSCRIPT.id, _SEGMENTER.id, _SUMMARIZER.id, embedding_model,
                     episode.duration_s, Jsonb({"summary": summary.summary, "topics": [],
                                                "chapters": []}), episode_uuid),
                )  # fmt: skip


async def store_eval_passages(
    eval_set: EvalSet, store: SegmentStore, embed: Embed, *, cache_dir: Path | None = None
) -> int:
    """Write ``eval_set``'s passages and stand-in summaries into LanceDB only (idempotent);
    returns the number of passages. Enough for search, which never reads PostgreSQL.

    The passages' sentences are embedded too, as processing stores them (search highlights
    with them): about ten times the passages' texts. With ``cache_dir`` the vectors are kept
    there (:func:`cached_embed`), so a test suite that loads the corpus again embeds nothing."""
    episodes = [(podcast, episode) for podcast in eval_set.podcasts for episode in podcast.episodes]
    plans = []
    texts: list[str] = []
    for podcast, episode in episodes:
        segments = [
            RetrievalSegment(
                id=segment_id(p.id),
                episode_id=str(entity_id(episode.id)),
                index=int(p.id.rpartition(":")[2]),
                start_s=p.start_s,
                end_s=p.end_s,
                text=p.text,
                model=_SEGMENTER,
                source=_TRANSCRIPT,
            )
            for p in episode.passages
        ]
        summary = _summary(episode)
        own = [s.text for s in segments]
        flat, counts = passage_sentences(own)
        plans.append((podcast, episode, segments, summary, counts, len(texts)))
        texts += [*own, summary.summary, *flat]
    embedded = await cached_embed(embed, texts, cache_dir)
    matrix = np.asarray(embedded.vectors, dtype=np.float32)
    segments_written = 0
    for podcast, episode, segments, summary, counts, start in plans:
        vectors = matrix[start : start + len(segments) + 1]
        sentences = matrix[start + len(segments) + 1 : start + len(segments) + 1 + sum(counts)]
        meta = EpisodeMeta(
            episode_id=str(entity_id(episode.id)),
            podcast_id=str(entity_id(podcast.id)),
            episode_title=episode.title,
            podcast_title=podcast.title,
            published_at=episode.published_at,
        )
        await asyncio.to_thread(
            store.write_episode,
            meta,
            segments,
            vectors[:-1],
            summary,
            vectors[-1],
            embedding_model=embedded.model,
            sentence_vectors=by_passage(sentences, counts),
        )
        segments_written += len(segments)
    return segments_written


_PROBE = "A probe of the embedding model: its vector names the model's weights and prefixes."


async def cached_embed(embed: Embed, texts: Sequence[str], cache_dir: Path | None) -> Embeddings:
    """``texts`` embedded in calls of at most ``SENTENCE_BATCH``; with ``cache_dir``, read from
    and saved to a file named by a digest of the model (its id and the vector it gives a fixed
    probe, so new weights or prefixes miss) and of the texts."""
    if cache_dir is None:
        return await _embed_all(embed, texts)
    probe = await embed([_PROBE])
    digest = hashlib.sha256(probe.model.id.encode())
    digest.update(np.asarray(probe.vectors, dtype=np.float32).round(4).tobytes())
    for text in texts:
        digest.update(text.encode() + b"\0")
    path = cache_dir / f"{digest.hexdigest()[:32]}.npy"
    cached = await asyncio.to_thread(_load, path, (len(texts), probe.dimension))
    if cached is not None:
        return Embeddings(cached, probe.dimension, probe.model)
    embedded = await _embed_all(embed, texts)
    await asyncio.to_thread(_save, path, np.asarray(embedded.vectors, dtype=np.float32))
    return embedded


def _load(path: Path, shape: tuple[int, int]) -> np.ndarray | None:
    try:
        vectors = np.load(path)
    except (OSError, ValueError):
        return None  # not cached yet (or a torn file): embed
    return vectors if vectors.shape == shape else None


def _save(path: Path, vectors: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    with partial.open("wb") as out:
        np.save(out, vectors)
    partial.replace(path)  # whole or absent for a concurrent reader


async def _embed_all(embed: Embed, texts: Sequence[str]) -> Embeddings:
    return join_embeddings([await embed(batch) for batch in sentence_batches(list(texts))])


async def _load_configured() -> LoadedCatalog:
    """The corpus into the configured database, LanceDB tables and bucket."""
    from models.embedder import Embedder
    from tellmemore.index import connect
    from tellmemore.research.metrics import load_eval_set
    from tellmemore.settings import load_settings
    from tellmemore.storage import make_pool, model_artifacts

    settings = load_settings()
    model = Embedder(
        settings.models.embedder, artifacts=model_artifacts(settings.s3, settings.models)
    )

    async def embed(texts: Sequence[str], space: EmbedderSettings | None = None) -> Embeddings:
        return await asyncio.to_thread(model.embed_passages, list(texts))

    store = SegmentStore(connect(settings.lance, settings.s3), model.dimension)
    pool = make_pool(settings.database)
    await pool.open(wait=True)
    try:
        return await load_eval_catalog(
            load_eval_set(), pool, store, embed, objects=ObjectStore(settings.s3)
        )
    finally:
        await pool.close()


def main() -> None:
    loaded = asyncio.run(_load_configured())
    print(
        f"labelled corpus loaded: {loaded.podcasts} podcasts, {loaded.episodes} episodes, "
        f"{loaded.segments} passages (with transcripts in S3)"
    )


if __name__ == "__main__":
    main()
