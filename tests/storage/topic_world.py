"""A small world for topic-playlist tests: podcasts and processed episodes written straight
into PostgreSQL and LanceDB, with passage vectors the test chooses. Every query embeds to one
axis, so a passage's cosine to any topic is exactly what the test says, and two passages with
one vector are exact near-duplicates (the same audio published by several feeds)."""

from __future__ import annotations

import asyncio
import math
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

from models.settings import EmbedderSettings
from models.types import ModelRef, RetrievalSegment
from tellmemore.clock import Clock, utc_now
from tellmemore.index import EpisodeMeta, SegmentStore, connect
from tellmemore.settings import RedisSettings, SearchSettings, Settings
from tellmemore.wiring import Services, open_services
from tests.conftest import make_settings, serve
from tests.storage.helpers import rows

DIMENSION = 384  # the default index's vector size
Vector = npt.NDArray[np.float32]
_SEGMENTER = ModelRef("segmenter", "test", "1")
_SOURCE = ModelRef("publisher", "publisher:test", "1")
_EMBEDDING = ModelRef("embedding", "query-axis", "1")


def direction(similarity: float, axis: int) -> Vector:
    """A unit vector at cosine ``similarity`` to every query; the rest lies on ``axis`` (>= 1),
    so passages on different axes are similar only through the query's."""
    vector = np.zeros(DIMENSION, dtype=np.float32)
    vector[0] = similarity
    vector[axis] = math.sqrt(1.0 - similarity**2)
    return vector


class QueryAxis:
    """Embeds every text onto axis 0: the query side of :func:`direction`."""

    model_id = "embedding:query-axis@1"

    async def embed_queries(
        self, texts: Sequence[str], space: EmbedderSettings | None = None
    ) -> Vector:
        vectors = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        vectors[:, 0] = 1.0
        return vectors

    async def embed_passages(
        self, texts: Sequence[str], space: EmbedderSettings | None = None
    ) -> Vector:
        return await self.embed_queries(texts, space)


@dataclass(frozen=True)
class Passage:
    text: str
    vector: Vector = field(repr=False)


@dataclass
class World:
    settings: Settings
    http: AsyncClient
    services: Services
    store: SegmentStore
    vectors: dict[str, Vector] = field(default_factory=dict)  # every passage written, by id

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
        segments, vectors = [], []
        for index, passage in enumerate(passages):
            if passage is None:
                continue
            segment = RetrievalSegment(f"{episode_id}:{index:05d}", episode_id, index,
                                       60.0 * index, 60.0 * (index + 1), passage.text,
                                       _SEGMENTER, _SOURCE)  # fmt: skip
            segments.append(segment)
            vectors.append(passage.vector)
            self.vectors[segment.id] = passage.vector
        meta = EpisodeMeta(episode_id, podcast_id, title, f"{title} (show)", datetime.now(UTC))
        await asyncio.to_thread(
            self.store.write_episode, meta, segments, np.stack(vectors), None, None,
            embedding_model=_EMBEDDING,
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
    store = SegmentStore(connect(settings.lance, settings.s3), DIMENSION)
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(
            serve(settings, clock=clock, text_embedder=QueryAxis())
        )
        services = await stack.enter_async_context(
            open_services(settings, clock=clock, text_embedder=QueryAxis())
        )
        yield World(settings, http, services, store)
