"""The one composition root: every long-lived service, built once per process from one
:class:`~tellmemore.settings.Settings`.

The API's lifespan, every CLI command and the batch driver open :class:`Services`
(:func:`open_services`); a Serve processor replica opens :class:`Processing`
(:func:`open_processing`) with the models it reaches through deployment handles. Both build
their parts with the same functions here, so no entry point can be wired differently, and
lower floors that need a higher one (the catalog queueing episodes) get it here as a port.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx
import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool

from tellmemore.accounts import (
    Accounts,
    ApiKeys,
    AuthService,
    EmailVerifications,
    LoginThrottle,
    Quotas,
    RateLimiter,
    VerificationTokens,
)
from tellmemore.catalog import (
    AppleClient,
    Catalog,
    FeedFetcher,
    FeedLoader,
    make_apple_http_client,
    make_http_client,
)
from tellmemore.clock import Clock, utc_now
from tellmemore.index import ActiveIndex, LazyConnection, SearchIndex, SearchTables, connect
from tellmemore.index import registry as search_indexes
from tellmemore.notify import Digests, EmailSender, make_email_http_client, make_sender
from tellmemore.playlists import ListeningHistory, Playlists, TopicPlaylists
from tellmemore.processing import (
    EpisodeJobs,
    EpisodeProcessor,
    EpisodeWorker,
    Models,
    Upkeep,
    make_queue,
)
from tellmemore.search import (
    CATALOG_CACHE,
    SEARCH_CACHE,
    NoTextEmbedder,
    SearchEngine,
    SearchService,
    TextEmbedder,
    TopicPlanner,
)
from tellmemore.settings import Settings
from tellmemore.storage import JobQueue, ObjectStore, ResultCache, make_pool, make_redis


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
    digests: Digests
    verifications: EmailVerifications
    email: EmailSender  # for mail sent on a request's behalf (verification links)
    api_keys: ApiKeys


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
            jobs = EpisodeJobs(
                pool, make_queue(pool, settings.processing), settings.processing,
                verified_interest_only=settings.auth.require_email_verification,
            )  # fmt: skip
            search_cache, catalog_cache = _caches(settings, redis)
            catalog = Catalog(settings, pool, loader, apple, jobs, cache=catalog_cache)
            throttle = LoginThrottle(redis, settings.redis, settings.auth)
            auth = AuthService(settings, pool, clock, throttle=throttle)
            limiter = RateLimiter(redis, settings.redis)
            quotas = Quotas(limiter, settings.quotas, clock)
            accounts = Accounts(
                pool, auth, catalog, limiter, clock, jobs,
                quotas=quotas, episodes_on_subscribe=settings.processing.enqueue_newest,
            )  # fmt: skip
            verifications = EmailVerifications(
                pool,
                VerificationTokens(settings.jwt_secret(), settings.auth.jwt_issuer,
                                   settings.auth.email_verification_ttl_s),
                accounts, clock, required=settings.auth.require_email_verification,
            )  # fmt: skip
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
            search = SearchService(engine, search_cache)
            playlists = Playlists(pool, settings.playlists, clock)
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
                history=ListeningHistory(pool),
                topics=_topics(settings, pool, engine, clock),
                digests=Digests(pool, clock),
                verifications=verifications,
                email=make_sender(settings.email),
                api_keys=ApiKeys(pool, clock),
            )
    finally:
        await redis.aclose()
        await pool.close()


def _caches(settings: Settings, redis: aioredis.Redis) -> tuple[ResultCache, ResultCache]:
    """The search-answer cache and the catalog-read cache, shared by every process in Redis."""
    prefix = settings.redis.key_prefix
    return (
        ResultCache(redis, SEARCH_CACHE, ttl_s=settings.search.cache_ttl_s, key_prefix=prefix),
        ResultCache(
            redis, CATALOG_CACHE, ttl_s=settings.search.catalog_cache_ttl_s, key_prefix=prefix
        ),
    )


def _topics(
    settings: Settings, pool: AsyncConnectionPool, engine: SearchEngine, clock: Clock
) -> TopicPlaylists:
    return TopicPlaylists(
        pool,
        Playlists(pool, settings.playlists, clock),
        ListeningHistory(pool),
        TopicPlanner(engine, settings.search),
    )


@dataclass(frozen=True)
class Processing:
    """What one processor replica runs: the worker loop over the job queue and the upkeep that
    follows each episode (and runs on a timer)."""

    worker: EpisodeWorker
    upkeep: Upkeep
    queue: JobQueue


@asynccontextmanager
async def open_processing(
    settings: Settings,
    models: Models,
    text_embedder: TextEmbedder,
    *,
    pool_name: str = "tellmemore-processor",
) -> AsyncIterator[Processing]:
    """Everything a processor replica needs, closed in reverse order on exit. ``models`` are
    the replica's way to the models (deployment handles behind async callables);
    ``text_embedder`` embeds the topic-playlist queries the upkeep runs."""
    async with AsyncExitStack() as stack:
        pool = make_pool(settings.database, name=pool_name)
        await pool.open(wait=False)
        stack.push_async_callback(pool.close)
        http = await stack.enter_async_context(make_http_client(settings.feeds))
        redis = make_redis(settings.redis)
        stack.push_async_callback(redis.aclose)
        email_http: httpx.AsyncClient | None = None
        if settings.email.backend == "http":
            email_http = await stack.enter_async_context(make_email_http_client(settings.email))
        lance = connect(settings.lance, settings.s3)
        tables = SearchTables(
            lance, pool, settings.models.embedder, ttl_s=settings.search.read_consistency_s
        )
        engine = SearchEngine(lance, text_embedder, settings.search, index=tables.active)
        upkeep = Upkeep(
            settings,
            pool,
            list(_caches(settings, redis)),
            _topics(settings, pool, engine, utc_now),
            Digests(pool, utc_now),
            make_sender(settings.email, email_http),
            tables.active_tables,
        )
        processor = EpisodeProcessor(
            settings,
            pool,
            ObjectStore(settings.s3),
            tables,
            models,
            FeedFetcher(settings.feeds, http),
        )
        queue = make_queue(pool, settings.processing)
        worker = EpisodeWorker(
            queue,
            processor,
            pool,
            settings.processing,
            settings.database.url,
            after_done=upkeep.episode_done,
        )
        yield Processing(worker=worker, upkeep=upkeep, queue=queue)


__all__ = ["Processing", "Services", "open_processing", "open_services"]
