"""Episode processing as a deployment: each replica runs a worker loop on the job queue.

Models are reached through the other deployments' handles (Whisper chunks fan out over the
transcriber replicas, passages are batched by the embedder) and the LLM through its
OpenAI-compatible route. Scaling the processor scales how many episodes run at once; a replica
that dies leaves its jobs to be reclaimed when their leases expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from ray import serve
from ray.serve.handle import DeploymentHandle

from core.clock import utc_now
from core.db.pool import make_pool
from core.email.http_api import make_email_http_client
from core.email.sender import make_sender
from core.episode_jobs import make_queue
from core.feeds.fetch import FeedFetcher, make_http_client
from core.history import ListeningHistory
from core.lance import connect
from core.logs import configure_logging
from core.objects import ObjectStore
from core.playlists import Playlists
from core.ratelimit import make_redis
from core.search.cache import ResultCache
from core.search.engine import SearchEngine
from core.search.service import CATALOG_CACHE, SEARCH_CACHE
from core.search.tellmemore import TopicPlanner
from core.settings import EmbedderSettings, Settings
from core.topics import TopicPlaylists
from models.summarizer.backends import OpenAIChat
from models.summarizer.summarizer import Summarizer
from models.types import Embeddings, RetrievalSegment, Summary, Transcript
from processing.episode import EpisodeProcessor
from processing.ports import Models
from processing.search_tables import SearchTables
from processing.upkeep import Upkeep
from processing.worker import EpisodeWorker
from serve_apps.handles import DeploymentTextEmbedder
from serve_apps.metrics import install as install_metrics

log = logging.getLogger(__name__)


# Shutdown waits for running episodes to reach a checkpoint (see __del__), beyond the 20 s default.
@serve.deployment(name="Processor", graceful_shutdown_timeout_s=60)
class Processor:
    async def __init__(  # type: ignore[misc]  # Serve awaits async constructors
        self,
        settings: Settings,
        transcriber: DeploymentHandle[Any],
        embedder: DeploymentHandle[Any],
    ) -> None:
        configure_logging(settings)
        install_metrics()
        self._settings = settings
        self._transcriber = transcriber
        self._embedder = embedder
        llm = settings.models.llm
        self._summarizer = Summarizer(
            OpenAIChat(llm, concurrency=4), max_output_tokens=llm.max_output_tokens
        )
        self._pool = make_pool(settings.database, name="tellmemore-processor")
        await self._pool.open(wait=False)
        self._http = make_http_client(settings.feeds)
        lance = connect(settings.lance, settings.s3)
        tables = SearchTables(
            lance, self._pool, settings.models.embedder, ttl_s=settings.search.read_consistency_s
        )
        self._redis = make_redis(settings.redis)
        self._email_http = (
            make_email_http_client(settings.email) if settings.email.backend == "http" else None
        )
        engine = SearchEngine(
            lance, DeploymentTextEmbedder(embedder), settings.search, index=tables.active
        )
        topics = TopicPlaylists(
            self._pool,
            Playlists(self._pool, settings.playlists, utc_now),
            ListeningHistory(self._pool),
            TopicPlanner(engine, settings.search),
            utc_now,
        )
        self._upkeep = Upkeep(
            settings,
            self._pool,
            [
                ResultCache(
                    self._redis,
                    SEARCH_CACHE,
                    ttl_s=settings.search.cache_ttl_s,
                    key_prefix=settings.redis.key_prefix,
                ),
                ResultCache(
                    self._redis,
                    CATALOG_CACHE,
                    ttl_s=settings.search.catalog_cache_ttl_s,
                    key_prefix=settings.redis.key_prefix,
                ),
            ],
            topics,
            make_sender(settings.email, self._email_http),
            tables.active_tables,
        )
        models = Models(
            transcribe=self._transcribe,
            summarize=self._summarize,
            embed=self._embed,
        )
        processor = EpisodeProcessor(
            settings,
            self._pool,
            ObjectStore(settings.s3),
            tables,
            models,
            FeedFetcher(settings.feeds, self._http),
        )
        self._queue = make_queue(self._pool, settings.processing)
        self._worker = EpisodeWorker(
            self._queue,
            processor,
            self._pool,
            settings.processing,
            settings.database.url,
            after_done=self._upkeep.episode_done,
        )
        self._loop: asyncio.Task[None] | None = None
        self._upkeep_loop: asyncio.Task[None] | None = None
        if settings.processing.worker_enabled:
            self._loop = asyncio.create_task(self._worker.run())
            self._upkeep_loop = asyncio.create_task(self._upkeep.run())
        self._metrics_loop = asyncio.create_task(self._publish_queue_metrics())

    async def _publish_queue_metrics(self) -> None:
        """Queue depth and dead letters as gauges, every ``processing.metrics_interval_s``
        (each replica publishes the same table-wide figures; dashboards take the max)."""
        while True:
            try:
                await self._queue.publish_depth()
            except Exception:
                log.warning("could not read the job queue's depth", exc_info=True)
            await asyncio.sleep(self._settings.processing.metrics_interval_s)

    async def _transcribe(self, samples: npt.NDArray[np.float32], offset_s: float) -> Transcript:
        result: Transcript = await self._transcriber.transcribe.remote(samples, offset_s)
        return result

    async def _embed(
        self, texts: Sequence[str], space: EmbedderSettings | None = None
    ) -> Embeddings:
        result: Embeddings = await self._embedder.embed_passages.remote(list(texts), space)
        return result

    async def _summarize(self, segments: Sequence[RetrievalSegment], title: str | None) -> Summary:
        return await asyncio.to_thread(self._summarizer.summarize, segments, title=title)

    def check_health(self) -> None:
        """Serve restarts a replica whose worker loop died."""
        if self._loop is not None and self._loop.done():
            raise RuntimeError("the episode worker loop stopped")

    def stats(self) -> dict[str, Any]:
        return {
            "worker": self._worker.name,
            "processed": self._worker.processed,
            "failed": self._worker.failed,
        }

    async def maintain_indexes(self) -> list[dict[str, Any]]:
        """Index maintenance now (``tmm index optimize`` on a cluster calls this)."""
        return [vars(r) for r in await self._upkeep.maintain_indexes()]

    async def __del__(self) -> None:
        self._worker.stop()
        self._upkeep.stop()
        self._metrics_loop.cancel()
        for task in (self._loop, self._upkeep_loop):
            if task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 30)
        await self._redis.aclose()
        if self._email_http is not None:
            await self._email_http.aclose()
        await self._http.aclose()
        await self._pool.close()
