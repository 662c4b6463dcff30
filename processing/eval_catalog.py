"""Loading the labelled search-evaluation corpus as a processed catalog.

The corpus (``core/demo/search_eval/``) holds podcasts whose episodes come as timed passages
already. Loading writes them exactly where processing would: podcast and episode rows in
PostgreSQL (status ``done``) and passages plus a summary per episode in LanceDB, embedded with
the real model. Search tests, the quality benchmark and notebooks then run against real tables;
:func:`store_eval_passages` writes the LanceDB half alone, for callers that only search.

Ids are deterministic (UUID v5 of the corpus ids), so loading twice changes nothing and the
labels' passage ids map to stored segment ids with :func:`segment_id`.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import numpy as np
from psycopg_pool import AsyncConnectionPool

from core.search.metrics import EvalEpisode, EvalSet
from models.types import ModelRef, RetrievalSegment, Summary
from processing.ports import Embed
from processing.segment_store import EpisodeMeta, SegmentStore

_NAMESPACE = uuid.UUID("6f1d2a9e-8b4c-4d3e-9a57-2c1e0b7d5f33")
_SEGMENTER = ModelRef("segmenter", "corpus-passages", "1")
_TRANSCRIPT = ModelRef("publisher", "corpus", "1")
_SUMMARIZER = ModelRef("llm", "corpus-first-passages", "1")


def entity_id(corpus_id: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, corpus_id)


def segment_id(passage_id: str) -> str:
    """The stored id of a corpus passage (``<episode>:<index>`` → ``<uuid>:<index, 5 digits>``)."""
    episode, _, index = passage_id.rpartition(":")
    return f"{entity_id(episode)}:{int(index):05d}"


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
) -> LoadedCatalog:
    """Write ``eval_set`` into PostgreSQL and LanceDB (idempotent)."""
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
    segments_written = await store_eval_passages(eval_set, store, embed)
    episodes = sum(len(p.episodes) for p in eval_set.podcasts)
    return LoadedCatalog(len(eval_set.podcasts), episodes, segments_written)


async def store_eval_passages(eval_set: EvalSet, store: SegmentStore, embed: Embed) -> int:
    """Write ``eval_set``'s passages and stand-in summaries into LanceDB only (idempotent);
    returns the number of passages. Enough for search, which never reads PostgreSQL."""
    segments_written = 0
    for podcast in eval_set.podcasts:
        for episode in podcast.episodes:
            episode_uuid = str(entity_id(episode.id))
            segments = [
                RetrievalSegment(
                    id=segment_id(p.id),
                    episode_id=episode_uuid,
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
            embedded = await embed([*(s.text for s in segments), summary.summary])
            vectors = np.asarray(embedded.vectors, dtype=np.float32)
            meta = EpisodeMeta(
                episode_id=episode_uuid,
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
            )
            segments_written += len(segments)
    return segments_written
