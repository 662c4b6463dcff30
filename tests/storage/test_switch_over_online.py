"""An online episode stored while a re-embedding run switches readers to a new index ends up in
the new index too, and the switch waits for online commits in flight (the batch run's catch-up
after the switch then sees every episode written into the old index).

The queue-less processor, the database, the S3 server, LanceDB and the models are real (the
packaged offline models, :mod:`tests.support.real_models`); the switch happens inside the first
embedding call in an index's space: after the processor looked the active index up, before it
commits.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from models.settings import EmbedderSettings
from models.types import Embeddings
from tellmemore.catalog import FeedFetcher
from tellmemore.catalog.feeds.fetch import make_http_client
from tellmemore.index import SearchIndex, SearchTables, connect, index_for, registry
from tellmemore.processing import EpisodeProcessor, Models
from tellmemore.settings import LanceSettings, S3Settings, Settings
from tellmemore.storage import ObjectStore, make_pool
from tests.storage.helpers import rows
from tests.support.http_server import LoopbackHTTPServer
from tests.support.real_models import LocalModels, local_models

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
    """The real models; the first embedding call in an index's space switches readers to
    ``NEW`` (a re-embedding run finishing) before the real embedder answers it. Calls without a
    space (the segmenter's sentence vectors) pass straight through."""

    models: LocalModels
    database_url: str
    spaces: list[str] = field(default_factory=list)

    async def embed(
        self, texts: Sequence[str], space: EmbedderSettings | None = None
    ) -> Embeddings:
        if space is not None:
            self.spaces.append(space.passage_prefix)
            if len(self.spaces) == 1:
                async with await psycopg.AsyncConnection.connect(self.database_url) as conn:
                    await registry.activate(conn, NEW.name)
        return await self.models.embed(texts, space)

    def ports(self) -> Models:
        return Models(
            transcribe=self.models.transcribe, summarize=self.models.summarize, embed=self.embed
        )


@pytest.fixture(scope="session")
def real_models() -> LocalModels:
    return local_models()


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
    real_models: LocalModels,
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
    models = SwitchWhileEmbedding(real_models, database_url)
    # The processor would not look the active index up again for an hour by itself.
    tables = SearchTables(connect(settings.lance, settings.s3), pool, settings.models.embedder,
                          ttl_s=3600)  # fmt: skip
    async with make_http_client(settings.feeds) as http:
        processor = EpisodeProcessor(
            settings, pool, ObjectStore(settings.s3), tables,
            models.ports(),
            FeedFetcher(settings.feeds, http),
        )  # fmt: skip
        outcome = await processor.process(episode_id)

    # Embedded for OLD (its sentences are the segmenter's: the same space), then again for NEW:
    # its passages and summary, then its sentences (another prefix: none can be reused).
    assert models.spaces == ["", "passage: ", "passage: "]
    written = passages(settings, NEW, episode_id)
    assert len(written) == outcome.segment_count >= 1
    new_model = (await real_models.embed(["x"], NEW.embedder)).model.id
    assert {p["embedding_model"] for p in written} == {new_model}
    (row,) = rows(database_url, "SELECT status, embedding_model FROM episodes WHERE id = %s",
                  episode_id)  # fmt: skip
    assert row == {"status": "done", "embedding_model": new_model}


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
