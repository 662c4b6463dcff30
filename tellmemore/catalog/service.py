"""The catalog service: adding podcasts (feed URL, Apple id, OPML) and refreshing feeds; the
reads are in :mod:`tellmemore.catalog.reads`.

It owns the rules that span fetch, parse and storage: never hold a database transaction across
network I/O; follow a feed to its new home and remember the old one; refuse duplicates by any
URL a feed has ever had; record a failed refresh on the podcast instead of losing what it has.
A private feed (``catalog.visibility``) is known only by the exact URL it was added by.
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

from tellmemore.catalog.apple import AppleClient
from tellmemore.catalog.feeds.credentials import carries_credentials, redacted_url
from tellmemore.catalog.feeds.fetch import Validators
from tellmemore.catalog.feeds.loader import FeedDocument, FeedLoader
from tellmemore.catalog.feeds.urls import parse_http_url, url_key
from tellmemore.catalog.opml import OpmlImportItem, OpmlImportReport, parse_opml
from tellmemore.catalog.ports import EpisodeQueue
from tellmemore.catalog.reads import CatalogReads
from tellmemore.catalog.rows import episodes as episode_rows
from tellmemore.catalog.rows import podcasts as podcast_rows
from tellmemore.catalog.types import IngestResult
from tellmemore.errors import CatalogError, ErrorKind
from tellmemore.settings import Settings
from tellmemore.storage import ResultCache

T = TypeVar("T")

log = logging.getLogger(__name__)
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


class Catalog(CatalogReads):
    """Podcasts and episodes, filled from feeds (the reads are :class:`CatalogReads`')."""

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
        self._cache = cache

    # ---- adding ------------------------------------------------------------------------

    async def add_feed(
        self,
        url: str,
        *,
        private: bool = False,
        apple_id: int | None = None,
        image_hint: str | None = None,
    ) -> AddResult:
        """Add the podcast whose feed is at ``url``; 409 if the catalog already has it (by this
        exact URL, credentials included). It is private to its subscribers when ``private`` is
        set or the URL carries credentials."""
        url = url.strip()
        parse_http_url(url)
        async with self._pool.connection() as conn:
            await self._refuse_existing(conn, url)
        document = await self._loader.load(url, Validators())
        return await self._store_new(
            document, apple_id=apple_id, image_hint=image_hint, private=private
        )

    async def add_document(self, url: str, body: bytes) -> AddResult:
        """Add (or update) a podcast from feed bytes already in hand, filed under ``url``.

        For feeds that ship with the application, like the demo; the same parsing and merging
        as a fetched feed.
        """
        document = self._loader.from_bytes(url, body)
        async with self._pool.connection() as conn:
            existing = await podcast_rows.find_by_url(conn, url)
        if existing is None:
            return await self._store_new(document, apple_id=None, image_hint=None, private=False)
        async with self._pool.connection() as conn:
            state = await podcast_rows.fetch_state(conn, existing)
        assert state is not None
        state = {**state, "feed_url": url, "body_sha256": None}
        return AddResult(existing, await self._apply(existing, document, state, force=True))

    async def _store_new(
        self,
        document: FeedDocument,
        *,
        apple_id: int | None,
        image_hint: str | None,
        private: bool,
    ) -> AddResult:
        """Insert a loaded feed as a new podcast. A private one keeps the URL it was added by
        and claims only that one: the redirects and feed moves behind two subscribers' URLs may
        meet, and must not merge their podcasts."""
        at = _now()
        private = private or any(carries_credentials(u) for u, _ in document.aliases)
        claims = document.aliases[:1] if private else document.aliases
        try:
            async with self._pool.connection() as conn, conn.transaction():
                podcast_id = await podcast_rows.insert(
                    conn,
                    feed_url=claims[0][0] if private else document.home_url,
                    feed=document.feed,
                    apple_id=apple_id,
                    image_fallback=image_hint,
                    private=private,
                )
                for alias, reason in claims:
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
        # Logs name the feed without its credentials (query, userinfo, a secret path).
        where = {"podcast_id": str(podcast_id), "feed": redacted_url(row["feed_url"])}
        try:
            document = await self._loader.load(row["feed_url"], validators)
        except CatalogError as exc:
            async with self._pool.connection() as conn:
                await podcast_rows.record_failure(
                    conn, podcast_id, code=exc.code, message=exc.message, at=_now()
                )
            await self.invalidate_cache()
            log.warning("feed refresh failed", extra={**where, "code": exc.code})
            raise
        result = await self._apply(podcast_id, document, row, force=force)
        if result.added or result.updated:
            log.info("feed refreshed", extra={**where, "added": result.added,
                                              "updated": result.updated})  # fmt: skip
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
            locked = await podcast_rows.fetch_state(conn, podcast_id, lock=True)
            # A private feed stays at the URL its subscribers gave (see _store_new); a public
            # one follows its moves, and turns private if it moved to a subscriber's URL.
            if locked is not None and not locked["private"]:
                for alias, reason in document.aliases:
                    await podcast_rows.add_url(conn, podcast_id, alias, reason)
                if url_key(document.home_url) != url_key(state["feed_url"]):
                    await podcast_rows.move_feed(conn, podcast_id, document.home_url, "redirect")
                urls = [state["feed_url"], *(u for u, _ in document.aliases)]
                if any(carries_credentials(u) for u in urls):
                    await podcast_rows.mark_private(conn, podcast_id)
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


async def _bounded(limit: int, jobs: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run ``jobs`` with at most ``limit`` in flight; results in job order."""
    gate = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(run(j) for j in jobs)))
