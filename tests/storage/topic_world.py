"""A small world for topic-playlist tests: podcasts and processed episodes written straight
into PostgreSQL and LanceDB, their passages embedded by the real model (all-MiniLM-L6-v2) with
their sentence vectors, as processing stores them, and the API and services embedding topics
with the same model. Two passages with one text have one vector: exact near-duplicates (the
same audio published by several feeds)."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from httpx import AsyncClient

from models.embedder import Embedder, LocalTextEmbedder
from models.settings import EmbedderSettings
from models.types import ModelRef, RetrievalSegment
from tellmemore.clock import Clock, utc_now
from tellmemore.index import EpisodeMeta, SegmentStore, connect
from tellmemore.search import by_passage, passage_sentences
from tellmemore.settings import RedisSettings, SearchSettings, Settings
from tellmemore.wiring import Services, open_services
from tests.conftest import make_settings, serve
from tests.storage.helpers import rows

Vector = npt.NDArray[np.float32]
_SEGMENTER = ModelRef("segmenter", "test", "1")
_SOURCE = ModelRef("publisher", "publisher:test", "1")


@dataclass(frozen=True)
class Passage:
    text: str


@dataclass
class World:
    settings: Settings
    http: AsyncClient
    services: Services
    store: SegmentStore
    embedder: Embedder
    vectors: dict[str, Vector] = field(default_factory=dict)  # every passage written, by id

    def vector(self, passage: Passage) -> Vector:
        """The passage's vector, as the index holds it."""
        vectors: Vector = self.embedder.embed_passages([passage.text]).vectors
        return np.asarray(vectors[0], dtype=np.float32)

    @property
    def database_url(self) -> str:
        return self.settings.database.url

    def podcast(self, title: str) -> str:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            row = conn.execute(
                "INSERT INTO podcasts (feed_url, title) VALUES (%s, %s) RETURNING id",
                (f"https://feeds.example.org/{uuid.uuid4().hex}.xml", title),
            ).fetchone()
        assert row is not None
        return str(row[0])

    async def episode(
        self,
        podcast_id: str,
        title: str,
        passages: Sequence[Passage | None],
        *,
        done: bool = True,
        audio: str | None = None,
    ) -> str:
        """An episode processed now, as processing stores one: its passages in the index (passage
        i runs from 60 i to 60 (i + 1) s; None leaves a gap), then its row marked done with the
        database's ``now()``. ``done=False`` leaves the row in ``processing`` for the test."""
        episode_id = str(uuid.uuid4())
        segments = [
            RetrievalSegment(f"{episode_id}:{index:05d}", episode_id, index, 60.0 * index,
                             60.0 * (index + 1), passage.text, _SEGMENTER, _SOURCE)
            for index, passage in enumerate(passages)
            if passage is not None
        ]  # fmt: skip
        texts = [s.text for s in segments]
        embedded = await asyncio.to_thread(self.embedder.embed_passages, texts)
        flat, counts = passage_sentences(texts)
        sentences = await asyncio.to_thread(self.embedder.embed_passages, flat)
        for segment, vector in zip(segments, embedded.vectors, strict=True):
            self.vectors[segment.id] = vector
        meta = EpisodeMeta(episode_id, podcast_id, title, f"{title} (show)", datetime.now(UTC))
        await asyncio.to_thread(
            self.store.write_episode, meta, segments, embedded.vectors, None, None,
            embedding_model=embedded.model,
            sentence_vectors=by_passage(sentences.vectors, counts),
        )  # fmt: skip
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO episodes (id, podcast_id, identity_key, title, duration_s,"
                " enclosure_url, content_sha256, status, processed_at)"
                " VALUES (%s, %s, %s, %s, 600, %s, 'x', %s, CASE WHEN %s THEN now() END)",
                (episode_id, podcast_id, episode_id, title,
                 audio or f"https://cdn.example.org/{episode_id}.mp3",
                 "done" if done else "processing", done),
            )  # fmt: skip
        return episode_id

    def items(self, playlist_id: str) -> list[dict[str, Any]]:
        """The playlist's items in order; ``grown`` tells those a refresh added (not yet
        reported by a digest) from the build's."""
        return rows(
            self.database_url,
            "SELECT episode_id::text, start_s, end_s, segment_id,"
            " notified_at IS NULL AS grown FROM playlist_items"
            " WHERE playlist_id = %s ORDER BY position",
            playlist_id,
        )


def segment_ids(items: Sequence[dict[str, Any]]) -> list[str]:
    return [s for item in items for s in (item["segment_id"] or "").split(",") if s]


@asynccontextmanager
async def open_world(
    database_url: str,
    apple_url: str,
    redis_settings: RedisSettings,
    lance_dir: Path,
    *,
    clock: Clock = utc_now,
) -> AsyncIterator[World]:
    """The API and the services (as a processor's upkeep opens them) over search tables of
    the test's own, both on ``clock``."""
    settings = make_settings(database_url, apple_url, redis_settings, lance_dir)
    settings = settings.model_copy(
        update={
            "search": SearchSettings(read_consistency_s=0),
            "redis": redis_settings.model_copy(
                update={"key_prefix": f"tmm-topics-{uuid.uuid4().hex[:8]}:"}
            ),
        }
    )
    embedder = _embedder()
    store = SegmentStore(connect(settings.lance, settings.s3), embedder.dimension)
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(
            serve(settings, clock=clock, text_embedder=_text_embedder())
        )
        services = await stack.enter_async_context(
            open_services(settings, clock=clock, text_embedder=_text_embedder())
        )
        yield World(settings, http, services, store, embedder)


@functools.cache
def _embedder() -> Embedder:
    """The real model, loaded once per session for every world."""
    return Embedder(EmbedderSettings())


@functools.cache
def _text_embedder() -> LocalTextEmbedder:
    return LocalTextEmbedder(EmbedderSettings())
