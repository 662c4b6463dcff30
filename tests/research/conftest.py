"""The labelled corpus loaded as the research demo catalog, once for this package: podcasts and
episodes in PostgreSQL, passages and summaries in LanceDB on the S3 server, transcripts in S3 —
what ``python -m tellmemore.research.corpus`` does for a researcher's local demo."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from models.embedder import Embedder
from models.settings import EmbedderSettings, ModelSettings
from models.types import Embeddings
from tellmemore.index import SegmentStore, connect
from tellmemore.research import EvalSet, LoadedCatalog, load_eval_catalog, load_eval_set
from tellmemore.settings import (
    AuthSettings,
    DatabaseSettings,
    LanceSettings,
    RedisSettings,
    S3Settings,
    Settings,
)
from tellmemore.storage import ObjectStore, make_pool
from tests.support.secrets import TEST_SECRET

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="package")
def corpus() -> EvalSet:
    return load_eval_set()


@pytest.fixture(scope="package")
def embedder_model() -> Embedder:
    return Embedder(EmbedderSettings())


def embed_with(model: Embedder) -> Any:
    async def embed(texts: Any, space: Any = None) -> Embeddings:
        return await asyncio.to_thread(model.embed_passages, list(texts))

    return embed


@pytest.fixture(scope="package")
def demo_settings(
    database_url: str, redis_settings: RedisSettings, s3_settings: S3Settings
) -> Settings:
    return Settings(
        environment="test",
        auth=AuthSettings(jwt_secret=TEST_SECRET, bcrypt_rounds=4),
        redis=redis_settings,
        database=DatabaseSettings(url=database_url, pool_min_size=0, pool_max_size=2),
        s3=s3_settings,
        lance=LanceSettings(prefix=f"research-{uuid.uuid4().hex[:8]}"),
        models=ModelSettings(dir=ROOT / ".local" / "models"),
    )


@pytest.fixture(scope="package")
def corpus_cache(pytestconfig: pytest.Config) -> Path:
    """Where the corpus's embeddings are kept between runs (pytest's cache folder): the
    sentences embedded with the passages made the load minutes long on a busy machine."""
    return Path(pytestconfig.cache.mkdir("corpus-embeddings"))


@pytest.fixture(scope="package")
def demo_catalog(
    demo_settings: Settings, corpus: EvalSet, embedder_model: Embedder, corpus_cache: Path
) -> Iterator[LoadedCatalog]:
    """The corpus alone in the database (earlier tiers' rows removed), loaded for real."""
    with psycopg.connect(demo_settings.database.url, autocommit=True) as conn:
        conn.execute("TRUNCATE podcasts, podcast_feed_urls, episodes, users CASCADE")
        conn.execute("DELETE FROM search_indexes")

    async def load() -> LoadedCatalog:
        store = SegmentStore(connect(demo_settings.lance, demo_settings.s3),
                             embedder_model.dimension)  # fmt: skip
        pool = make_pool(demo_settings.database)
        await pool.open(wait=True)
        try:
            return await load_eval_catalog(corpus, pool, store, embed_with(embedder_model),
                                           objects=ObjectStore(demo_settings.s3),
                                           cache_dir=corpus_cache)  # fmt: skip
        finally:
            await pool.close()

    loaded = asyncio.run(load())
    yield loaded
    with psycopg.connect(demo_settings.database.url, autocommit=True) as conn:
        conn.execute("TRUNCATE podcasts, podcast_feed_urls, episodes CASCADE")
