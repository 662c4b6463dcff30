"""The catalog service: adding podcasts (feed URL, Apple id, OPML), refreshing feeds, reading.

It owns the rules that span fetch, parse and storage: never hold a database transaction across
network I/O; follow a feed to its new home and remember the old one; refuse duplicates by any
URL a feed has ever had; record a failed refresh on the podcast instead of losing what it has.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from psycopg_pool import AsyncConnectionPool
from pydantic import TypeAdapter
from redis.exceptions import RedisError

from tellmemore.catalog.apple import AppleClient
from tellmemore.catalog.feeds.fetch import Validators
from tellmemore.catalog.feeds.loader import FeedDocument, FeedLoader
from tellmemore.catalog.feeds.urls import parse_http_url, url_key
from tellmemore.catalog.opml import OpmlImportItem, OpmlImportReport, parse_opml, render_opml
from tellmemore.catalog.ports import EpisodeQueue
from tellmemore.catalog.rows import episodes as episode_rows
from tellmemore.catalog.rows import podcasts as podcast_rows
from tellmemore.catalog.types import ApplePodcast, Episode, IngestResult, Podcast
from tellmemore.errors import CatalogError, ErrorKind
from tellmemore.settings import Settings
from tellmemore.storage import Cursor, Page, ResultCache

T = TypeVar("T")

log = logging.getLogger(__name__)
_PODCAST = TypeAdapter(Podcast)
_PAGE = TypeAdapter(Page[Podcast])
Conn = psycopg.AsyncConnection[Any]


@dataclass(frozen=True)
class AddResult:
    podcast_id: UUID
    ingest: IngestResult


@dataclass(frozen=True)
class RefreshOutcome:
    """One feed's result in a batch refresh: counts, or the recorded error."""

    podcast_id: UUID
    result: IngestResult | None = None
    error_code: str | None = None
    error: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _exists(podcast_id: UUID) -> CatalogError:
    return CatalogError(
        "podcast_exists",
        "This podcast is already in the catalog.",
        ErrorKind.CONFLICT,
        details={"podcast_id": str(podcast_id)},
    )


def _ingest(podcast_id: UUID, counts: episode_rows.UpsertCounts) -> IngestResult:
    return IngestResult(
        podcast_id, counts.added, counts.updated, counts.unchanged, False, counts.new_ids
    )


class Catalog:
    """Podcasts and episodes, filled from feeds."""

    def __init__(
        self,
        settings: Settings,
        pool: AsyncConnectionPool,
        loader: FeedLoader,
        apple: AppleClient,
        jobs: EpisodeQueue | None = None,
        cache: ResultCache | None = None,
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._loader = loader
        self._apple = apple
        self._jobs = jobs
        # Podcast reads (the busiest catalog routes) through Redis; every write below drops
        # them (and so does the processor when an episode's passages land).
        self._cache = cache

    async def invalidate_cache(self) -> None:
        """Drop cached podcast reads: after every write here, and after a batch job's."""
        if self._cache is not None:
            try:
                await self._cache.invalidate()
            except (RedisError, OSError) as exc:  # entries then expire by their TTL
                log.warning("catalog cache not invalidated: %s", exc)

    # ---- reads -------------------------------------------------------------------------

    async def get_podcast(self, podcast_id: UUID) -> Podcast:
        if self._cache is None:
            return await self._load_podcast(podcast_id)
        return await self._cache.get_or_compute(
            {"podcast": str(podcast_id)},
            lambda: self._load_podcast(podcast_id),
            encode=lambda p: _PODCAST.dump_python(p, mode="json"),
            decode=_PODCAST.validate_python,
        )

    async def _load_podcast(self, podcast_id: UUID) -> Podcast:
        async with self._pool.connection() as conn:
            podcast = await podcast_rows.get(conn, podcast_id)
        if podcast is None:
            raise CatalogError(
                "podcast_not_found", "There is no such podcast.", ErrorKind.NOT_FOUND
            )
        return podcast

    async def list_podcasts(
        self, *, limit: int, cursor: str | None, query: str | None
    ) -> Page[Podcast]:
        after = Cursor.decode(cursor) if cursor else None

        async def load() -> Page[Podcast]:
            async with self._pool.connection() as conn:
                return await podcast_rows.list_page(conn, limit=limit, after=after, query=query)

        if self._cache is None:
            return await load()
        return await self._cache.get_or_compute(
            {"podcasts": [limit, cursor, query]},
            load,
            encode=lambda p: _PAGE.dump_python(p, mode="json"),
            decode=_PAGE.validate_python,
        )

    async def get_episode(self, episode_id: UUID) -> Episode:
        async with self._pool.connection() as conn:
            episode = await episode_rows.get(conn, episode_id)
        if episode is None:
            raise CatalogError(
                "episode_not_found", "There is no such episode.", ErrorKind.NOT_FOUND
            )
        return episode

    async def list_episodes(
        self,
        podcast_id: UUID,
        *,
        limit: int,
        cursor: str | None,
        published_since: datetime | None = None,
        published_until: datetime | None = None,
    ) -> Page[Episode]:
        if published_since and published_until and published_since >= published_until:
            raise CatalogError(
                "invalid_date_range", "published_since must be earlier than published_until."
            )
        after = Cursor.decode(cursor) if cursor else None
        async with self._pool.connection() as conn:
            if await podcast_rows.get(conn, podcast_id) is None:
                raise CatalogError(
                    "podcast_not_found", "There is no such podcast.", ErrorKind.NOT_FOUND
                )
            return await episode_rows.list_page(
                conn,
                podcast_id,
                limit=limit,
                after=after,
                published_since=published_since,
                published_until=published_until,
            )

    async def search_apple(
        self, term: str, *, limit: int, country: str | None
    ) -> list[tuple[ApplePodcast, UUID | None]]:
        """Apple's results, each with the catalog's podcast id when we already have it."""
        found = await self._apple.search(term, limit=limit, country=country)
        out: list[tuple[ApplePodcast, UUID | None]] = []
        async with self._pool.connection() as conn:
            for podcast in found:
                known = await podcast_rows.find_by_apple_id(conn, podcast.apple_id)
                if known is None and podcast.feed_url:
                    known = await podcast_rows.find_by_url(conn, podcast.feed_url)
                out.append((podcast, known))
        return out

    # ---- adding ------------------------------------------------------------------------

    async def add_feed(
        self, url: str, *, apple_id: int | None = None, image_hint: str | None = None
    ) -> AddResult:
        """Add the podcast whose feed is at ``url``; 409 if the catalog already has it."""
        url = url.strip()
        parse_http_url(url)
        async with self._pool.connection() as conn:
            await self._refuse_existing(conn, url)
        document = await self._loader.load(url, Validators())
        return await self._store_new(document, apple_id=apple_id, image_hint=image_hint)

    async def add_document(self, url: str, body: bytes) -> AddResult:
        """Add (or update) a podcast from feed bytes already in hand, filed under ``url``.

        For feeds that ship with the application, like the demo; the same parsing and merging
        as a fetched feed.
        """
        document = self._loader.from_bytes(url, body)
        async with self._pool.connection() as conn:
            existing = await podcast_rows.find_by_url(conn, url)
        if existing is None:
            return await self._store_new(document, apple_id=None, image_hint=None)
        state = {"feed_url": url, "body_sha256": None}
        return AddResult(existing, await self._apply(existing, document, state, force=True))

    async def _store_new(
        self, document: FeedDocument, *, apple_id: int | None, image_hint: str | None
    ) -> AddResult:
        at = _now()
        try:
            async with self._pool.connection() as conn, conn.transaction():
                podcast_id = await podcast_rows.insert(
                    conn,
                    feed_url=document.home_url,
                    feed=document.feed,
                    apple_id=apple_id,
                    image_fallback=image_hint,
                )
                for alias, reason in document.aliases:
                    owner = await podcast_rows.claim_url(conn, podcast_id, alias, reason)
                    if owner != podcast_id:  # rolls the whole insert back
                        raise _exists(owner)
                counts = await episode_rows.upsert(conn, podcast_id, document.feed.episodes)
                await podcast_rows.record_success(conn, podcast_id, **document.validators(), at=at)
        except psycopg.errors.UniqueViolation as exc:
            # The same Apple id was added meanwhile under another feed URL.
            async with self._pool.connection() as conn:
                if apple_id is not None:
                    await self._refuse_apple_duplicate(conn, apple_id)
            raise CatalogError(
                "podcast_exists", "This podcast is already in the catalog.", ErrorKind.CONFLICT
            ) from exc
        await self.invalidate_cache()
        return AddResult(podcast_id, _ingest(podcast_id, counts))

    async def add_apple(self, apple_id: int) -> AddResult:
        """Add a podcast found through Apple Podcasts, by its Apple id."""
        async with self._pool.connection() as conn:
            await self._refuse_apple_duplicate(conn, apple_id)
        found = await self._apple.lookup(apple_id)
        if found is None:
            raise CatalogError(
                "apple_not_found", f"Apple Podcasts has no podcast {apple_id}.", ErrorKind.NOT_FOUND
            )
        if not found.feed_url:
            raise CatalogError(
                "apple_no_feed",
                f"{found.title!r} has no public RSS feed on Apple Podcasts (Apple-exclusive or "
                "subscription shows cannot be added).",
                details={"apple_id": apple_id},
            )
        return await self.add_feed(found.feed_url, apple_id=apple_id, image_hint=found.artwork_url)

    async def _refuse_existing(self, conn: Conn, url: str) -> None:
        existing = await podcast_rows.find_by_url(conn, url)
        if existing is not None:
            raise _exists(existing)

    async def _refuse_apple_duplicate(self, conn: Conn, apple_id: int) -> None:
        existing = await podcast_rows.find_by_apple_id(conn, apple_id)
        if existing is not None:
            raise _exists(existing)

    # ---- refreshing --------------------------------------------------------------------

    async def refresh(self, podcast_id: UUID, *, force: bool = False) -> IngestResult:
        """Fetch one podcast's feed again and merge what changed; a failure is recorded on the
        podcast (and raised) while everything stored stays as it was."""
        async with self._pool.connection() as conn:
            row = await podcast_rows.fetch_state(conn, podcast_id)
        if row is None:
            raise CatalogError(
                "podcast_not_found", "There is no such podcast.", ErrorKind.NOT_FOUND
            )
        validators = Validators() if force else Validators(row["etag"], row["last_modified"])
        try:
            document = await self._loader.load(row["feed_url"], validators)
        except CatalogError as exc:
            async with self._pool.connection() as conn:
                await podcast_rows.record_failure(
                    conn, podcast_id, code=exc.code, message=exc.message, at=_now()
                )
            await self.invalidate_cache()
            raise
        result = await self._apply(podcast_id, document, row, force=force)
        if (
            self._jobs is not None
            and result.new_episode_ids
            and self._settings.processing.enqueue_on_refresh
        ):
            await self._jobs.enqueue(result.new_episode_ids)
        return result

    async def _apply(
        self, podcast_id: UUID, document: FeedDocument, state: dict[str, Any], *, force: bool
    ) -> IngestResult:
        """Merge a loaded feed into a stored podcast in one short transaction."""
        found = document.validators()
        unchanged_body = not force and found["body_sha256"] == state["body_sha256"]
        at = _now()
        async with self._pool.connection() as conn, conn.transaction():
            await podcast_rows.fetch_state(conn, podcast_id, lock=True)
            for alias, reason in document.aliases:
                await podcast_rows.add_url(conn, podcast_id, alias, reason)
            if url_key(document.home_url) != url_key(state["feed_url"]):
                await podcast_rows.move_feed(conn, podcast_id, document.home_url, "redirect")
            if document.fetch.not_modified or unchanged_body:
                await podcast_rows.record_success(conn, podcast_id, **found, at=at)
                result = IngestResult(podcast_id, not_modified=True)
            else:
                await podcast_rows.update_from_feed(conn, podcast_id, document.feed)
                counts = await episode_rows.upsert(conn, podcast_id, document.feed.episodes)
                await podcast_rows.record_success(conn, podcast_id, **found, at=at)
                result = _ingest(podcast_id, counts)
        await self.invalidate_cache()
        return result

    async def refresh_all(self, *, force: bool = False) -> list[RefreshOutcome]:
        """Refresh every feed, a few at a time; one bad feed never stops the rest."""
        async with self._pool.connection() as conn:
            targets = await podcast_rows.refresh_targets(conn)

        async def one(podcast_id: UUID) -> RefreshOutcome:
            try:
                return RefreshOutcome(
                    podcast_id, result=await self.refresh(podcast_id, force=force)
                )
            except CatalogError as exc:
                return RefreshOutcome(podcast_id, error_code=exc.code, error=exc.message)

        jobs = [partial(one, p) for p in targets]
        return await _bounded(self._settings.feeds.refresh_concurrency, jobs)

    # ---- OPML --------------------------------------------------------------------------

    async def import_opml(self, data: bytes) -> OpmlImportReport:
        """Add every feed an OPML file lists; bad entries are reported, good ones imported."""
        entries = parse_opml(data, max_entries=self._settings.api.opml_max_entries)

        async def one(entry_index: int) -> OpmlImportItem:
            entry = entries[entry_index]
            if entry.error_code or entry.feed_url is None:
                return OpmlImportItem(
                    entry.feed_url, entry.title, "failed",
                    error_code=entry.error_code, error=entry.error,
                )  # fmt: skip
            try:
                added = await self.add_feed(entry.feed_url)
            except CatalogError as exc:
                if exc.code == "podcast_exists":
                    existing = exc.details.get("podcast_id")
                    return OpmlImportItem(
                        entry.feed_url, entry.title, "exists",
                        podcast_id=UUID(existing) if existing else None,
                    )  # fmt: skip
                return OpmlImportItem(
                    entry.feed_url, entry.title, "failed", error_code=exc.code, error=exc.message
                )
            return OpmlImportItem(entry.feed_url, entry.title, "created", added.podcast_id)

        jobs = [partial(one, i) for i in range(len(entries))]
        items = await _bounded(self._settings.feeds.refresh_concurrency, jobs)
        return OpmlImportReport(items)

    async def export_opml(self) -> bytes:
        async with self._pool.connection() as conn:
            podcasts = await podcast_rows.all_for_export(conn)
        return render_opml(podcasts)


async def _bounded(limit: int, jobs: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run ``jobs`` with at most ``limit`` in flight; results in job order."""
    gate = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(run(j) for j in jobs)))
