"""Building the long-lived clients once per process: pool, HTTP clients, catalog.

The API's lifespan and every CLI command open the same :class:`Services` from one
:class:`~core.settings.Settings`, so they can never be wired differently.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool

from core.accounts import Accounts
from core.apple import AppleClient, make_apple_http_client
from core.auth.service import AuthService
from core.catalog import Catalog
from core.clock import Clock, utc_now
from core.db import search_indexes
from core.db.pool import make_pool
from core.episode_jobs import EpisodeJobs, make_queue
from core.feeds.fetch import FeedFetcher, make_http_client
from core.feeds.loader import FeedLoader
from core.history import ListeningHistory
from core.lance import LazyConnection
from core.objects import ObjectStore
from core.playlists import Playlists
from core.ratelimit import RateLimiter, make_redis
from core.search.cache import ResultCache
from core.search.engine import SearchEngine
from core.search.ports import NoTextEmbedder, TextEmbedder
from core.search.service import CATALOG_CACHE, SEARCH_CACHE, SearchService
from core.search.spaces import ActiveIndex, SearchIndex
from core.search.tellmemore import TopicPlanner
from core.settings import Settings
from core.topics import TopicPlaylists


@dataclass(frozen=True)
class Services:
    settings: Settings
    pool: AsyncConnectionPool
    redis: aioredis.Redis
    apple: AppleClient
    catalog: Catalog
    auth: AuthService
    accounts: Accounts
    limiter: RateLimiter
    clock: Clock
    jobs: EpisodeJobs
    objects: ObjectStore
    search: SearchService
    playlists: Playlists
    history: ListeningHistory
    topics: TopicPlaylists


async def _active_index(pool: AsyncConnectionPool) -> SearchIndex | None:
    async with pool.connection() as conn:
        return await search_indexes.active(conn)


@asynccontextmanager
async def open_services(
    settings: Settings,
    *,
    wait_for_db: bool = False,
    clock: Clock = utc_now,
    text_embedder: TextEmbedder | None = None,
) -> AsyncIterator[Services]:
    """Open everything; with ``wait_for_db`` fail fast if PostgreSQL is not there (CLI), else
    start anyway and let ``/ready`` say so (servers). Search embeds queries with
    ``text_embedder`` (none: search answers 503)."""
    pool = make_pool(settings.database)
    await pool.open(wait=wait_for_db, timeout=settings.database.connect_timeout_s)
    redis = make_redis(settings.redis)
    try:
        async with (
            make_http_client(settings.feeds) as feed_http,
            make_apple_http_client(settings.apple) as apple_http,
        ):
            apple = AppleClient(settings.apple, apple_http)
            loader = FeedLoader(
                FeedFetcher(settings.feeds, feed_http), max_moves=settings.feeds.max_feed_moves
            )
            jobs = EpisodeJobs(pool, make_queue(pool, settings.processing), settings.processing)
            catalog_cache = ResultCache(
                redis,
                CATALOG_CACHE,
                ttl_s=settings.search.catalog_cache_ttl_s,
                key_prefix=settings.redis.key_prefix,
            )
            catalog = Catalog(settings, pool, loader, apple, jobs, cache=catalog_cache)
            auth = AuthService(settings, pool, clock)
            limiter = RateLimiter(redis, settings.redis)
            accounts = Accounts(pool, auth, catalog, limiter, clock, jobs)
            engine = SearchEngine(
                LazyConnection(settings.lance, settings.s3),
                text_embedder or NoTextEmbedder(),
                settings.search,
                index=ActiveIndex(
                    functools.partial(_active_index, pool),
                    settings.models.embedder,
                    ttl_s=settings.search.read_consistency_s,
                ),
            )
            search = SearchService(
                engine,
                ResultCache(
                    redis,
                    SEARCH_CACHE,
                    ttl_s=settings.search.cache_ttl_s,
                    key_prefix=settings.redis.key_prefix,
                ),
            )
            playlists = Playlists(pool, settings.playlists, clock)
            history = ListeningHistory(pool)
            yield Services(
                settings=settings,
                pool=pool,
                redis=redis,
                apple=apple,
                catalog=catalog,
                auth=auth,
                accounts=accounts,
                limiter=limiter,
                clock=clock,
                jobs=jobs,
                objects=ObjectStore(settings.s3),
                search=search,
                playlists=playlists,
                history=history,
                topics=TopicPlaylists(
                    pool, playlists, history, TopicPlanner(engine, settings.search), clock
                ),
            )
    finally:
        await redis.aclose()
        await pool.close()
