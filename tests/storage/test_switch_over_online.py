"""An online episode stored while a re-embedding run switches readers to a new index ends up in
the new index too, and the switch waits for online commits in flight (the batch run's catch-up
after the switch then sees every episode written into the old index).

The queue-less processor, the database, the S3 server and LanceDB are real; the models are
stand-ins behind the :class:`~tellmemore.processing.Models` port, and the switch happens inside
the embedding call: after the processor looked the active index up, before it commits.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from models.settings import EmbedderSettings
from models.types import Embeddings, ModelRef, RetrievalSegment, Summary, Transcript
from tellmemore.catalog import FeedFetcher
from tellmemore.catalog.feeds.fetch import make_http_client
from tellmemore.index import SearchIndex, SearchTables, connect, index_for, registry
from tellmemore.processing import EpisodeProcessor, Models
from tellmemore.settings import LanceSettings, S3Settings, Settings
from tellmemore.storage import ObjectStore, make_pool
from tests.storage.helpers import rows
from tests.support.http_server import LoopbackHTTPServer

VTT = b"""WEBVTT

00:00:00.000 --> 00:00:06.000
The river bends south near the old mill, and the water runs slow and brown there.

00:00:06.000 --> 00:00:12.000
Herons wait in the shallows for the fish that come down with the spring floods.
"""
OLD = index_for(EmbedderSettings())
NEW = index_for(EmbedderSettings(query_prefix="query: ", passage_prefix="passage: "))


@dataclass
class SwitchWhileEmbedding:
    """Stand-in models; the first embedding call switches readers to ``NEW`` (a re-embedding
    run finishing) before it answers."""

    database_url: str
    spaces: list[str] = field(default_factory=list)

    async def transcribe(self, samples: npt.NDArray[np.float32], offset_s: float) -> Transcript:
        raise AssertionError("the publisher's transcript is used")

    async def summarize(self, segments: Sequence[RetrievalSegment], title: str | None) -> Summary:
        return Summary("Rivers and herons.", ("rivers",), (), ModelRef("llm", "stand-in", "1"))

    async def embed(
        self, texts: Sequence[str], space: EmbedderSettings | None = None
    ) -> Embeddings:
        assert space is not None
        self.spaces.append(space.passage_prefix)
        if len(self.spaces) == 1:
            async with await psycopg.AsyncConnection.connect(self.database_url) as conn:
                await registry.activate(conn, NEW.name)
        vectors = np.random.default_rng(0).standard_normal((len(texts), 8)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return Embeddings(vectors, 8, ModelRef("embedding", f"stand-in{space.passage_prefix}", "1"))


@pytest.fixture
def registry_restored(database_url: str) -> Iterator[None]:
    """This test switches the active index; leave the registry as found."""
    query = "SELECT name, active FROM search_indexes"
    with psycopg.connect(database_url, autocommit=True) as conn:
        before: dict[str, bool] = dict(conn.execute(query).fetchall())
        conn.execute("UPDATE search_indexes SET active = false")
    yield
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM search_indexes WHERE NOT (name = ANY(%s))", (list(before),))
        conn.execute("UPDATE search_indexes SET active = false")
        for name, active in before.items():
            if active:
                conn.execute("UPDATE search_indexes SET active = true WHERE name = %s", (name,))


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[AsyncConnectionPool]:
    pool = make_pool(settings.database)
    await pool.open(wait=True)
    try:
        yield pool
    finally:
        await pool.close()


def an_episode(database_url: str, vtt_url: str) -> uuid.UUID:
    with psycopg.connect(database_url, autocommit=True) as conn:
        podcast = conn.execute(
            "INSERT INTO podcasts (feed_url, title) VALUES (%s, 'Slow Water') RETURNING id",
            (f"{vtt_url}.xml",),
        ).fetchone()
        assert podcast is not None
        row = conn.execute(
            "INSERT INTO episodes (podcast_id, identity_key, title, content_sha256, transcripts)"
            " VALUES (%s, 'k', 'Herons', 'x', %s) RETURNING id",
            (podcast[0], Jsonb([{"url": vtt_url, "type": "text/vtt"}])),
        ).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def passages(settings: Settings, index: SearchIndex, episode_id: uuid.UUID) -> list[dict[str, Any]]:
    table = connect(settings.lance, settings.s3).open_table(index.segments_table)
    found: list[dict[str, Any]] = (
        table.search().where(f"episode_id = '{episode_id}'").limit(None).to_arrow().to_pylist()
    )
    return found


@pytest.mark.usefixtures("registry_restored", "clean_db")
async def test_an_online_episode_stored_during_a_switch_over_lands_in_the_new_index(
    settings: Settings,
    s3_settings: S3Settings,
    database_url: str,
    feed_server: LoopbackHTTPServer,
    pool: AsyncConnectionPool,
    tmp_path: Path,
) -> None:
    settings = settings.model_copy(
        update={"s3": s3_settings, "lance": LanceSettings(location=str(tmp_path / "lance"))}
    )
    vtt_url = feed_server.add(f"/switch-{uuid.uuid4().hex[:8]}/t.vtt", body=VTT,
                              content_type="text/vtt")  # fmt: skip
    episode_id = an_episode(database_url, vtt_url)
    async with pool.connection() as conn:
        assert await registry.claim_if_none_active(conn, OLD, None)  # readers use OLD
        await registry.register(conn, NEW, None)  # a re-embedding run builds NEW
    models = SwitchWhileEmbedding(database_url)
    # The processor would not look the active index up again for an hour by itself.
    tables = SearchTables(connect(settings.lance, settings.s3), pool, settings.models.embedder,
                          ttl_s=3600)  # fmt: skip
    async with make_http_client(settings.feeds) as http:
        processor = EpisodeProcessor(
            settings, pool, ObjectStore(settings.s3), tables,
            Models(transcribe=models.transcribe, summarize=models.summarize, embed=models.embed),
            FeedFetcher(settings.feeds, http),
        )  # fmt: skip
        outcome = await processor.process(episode_id)

    assert models.spaces == ["", "passage: "]  # embedded for OLD, then again for NEW
    written = passages(settings, NEW, episode_id)
    assert len(written) == outcome.segment_count >= 1
    assert {p["embedding_model"] for p in written} == {"embedding:stand-inpassage: @1"}
    (row,) = rows(database_url, "SELECT status, embedding_model FROM episodes WHERE id = %s",
                  episode_id)  # fmt: skip
    assert row == {"status": "done", "embedding_model": "embedding:stand-inpassage: @1"}


@pytest.mark.usefixtures("registry_restored")
async def test_a_switch_over_waits_for_an_online_commit_in_flight(
    pool: AsyncConnectionPool,
) -> None:
    async with pool.connection() as conn:
        await registry.claim_if_none_active(conn, OLD, None)
        await registry.register(conn, NEW, None)
    async with pool.connection() as writer, pool.connection() as switcher:
        async with writer.transaction():
            assert await registry.still_active(writer, OLD.name)
            switch = asyncio.create_task(registry.activate(switcher, NEW.name))
            await asyncio.sleep(0.5)
            assert not switch.done()  # the online commit is in flight: the switch waits
        record = await asyncio.wait_for(switch, 5)
        assert record.active
        async with writer.transaction():  # a commit after the switch sees it
            assert not await registry.still_active(writer, OLD.name)
            assert await registry.still_active(writer, NEW.name)
