"""The catalog's reads, each for one viewer: podcasts, episodes, Apple results, the OPML export.

Private podcasts (see :mod:`tellmemore.catalog.visibility`) are seen only by their
subscribers; anyone else gets the 404 of a podcast or episode that does not exist. The public
catalog is cached in Redis for everyone; a subscriber of private podcasts reads their own view
from the database (subscribing changes it, and is not a catalog write that drops the cache).
"""

from __future__ import annotations

import logging
from datetime import datetime
from uuid import UUID

from psycopg_pool import AsyncConnectionPool
from pydantic import TypeAdapter
from redis.exceptions import RedisError

from tellmemore.catalog.apple import AppleClient
from tellmemore.catalog.opml import render_opml
from tellmemore.catalog.rows import episodes as episode_rows
from tellmemore.catalog.rows import podcasts as podcast_rows
from tellmemore.catalog.types import ApplePodcast, Episode, Podcast
from tellmemore.catalog.visibility import EVERYONE, Viewer, shown
from tellmemore.errors import CatalogError, ErrorKind
from tellmemore.storage import Cursor, Page, ResultCache

log = logging.getLogger(__name__)
_PODCAST = TypeAdapter(Podcast)
_PAGE = TypeAdapter(Page[Podcast])


def _no_podcast() -> CatalogError:
    return CatalogError("podcast_not_found", "There is no such podcast.", ErrorKind.NOT_FOUND)


def _no_episode() -> CatalogError:
    return CatalogError("episode_not_found", "There is no such episode.", ErrorKind.NOT_FOUND)


class CatalogReads:
    """What :class:`~tellmemore.catalog.service.Catalog` answers to readers."""

    _pool: AsyncConnectionPool
    _apple: AppleClient
    # Podcast reads (the busiest catalog routes) through Redis; every catalog write drops
    # them (and so does the processor when an episode's passages land).
    _cache: ResultCache | None

    async def invalidate_cache(self) -> None:
        """Drop cached podcast reads: after every write here, and after a batch job's."""
        if self._cache is not None:
            try:
                await self._cache.invalidate()
            except (RedisError, OSError) as exc:  # entries then expire by their TTL
                log.warning("catalog cache not invalidated: %s", exc)

    async def may_see(self, podcast_id: UUID, viewer: Viewer) -> bool:
        """Whether the podcast exists and ``viewer`` may see it."""
        async with self._pool.connection() as conn:
            return await podcast_rows.is_visible(conn, podcast_id, viewer)

    async def hidden_podcasts(self, viewer: Viewer) -> tuple[str, ...]:
        """The private podcasts ``viewer`` may not see, for search to leave out."""
        if viewer == EVERYONE:
            return ()
        async with self._pool.connection() as conn:
            return tuple(str(p) for p in await podcast_rows.hidden_from(conn, viewer))

    async def get_podcast(self, podcast_id: UUID, *, viewer: Viewer) -> Podcast:
        if self._cache is None:
            podcast = await self._load_podcast(podcast_id)
        else:
            podcast = await self._cache.get_or_compute(
                {"podcast/2": str(podcast_id)},
                lambda: self._load_podcast(podcast_id),
                encode=lambda p: _PODCAST.dump_python(p, mode="json"),
                decode=_PODCAST.validate_python,
            )
        if podcast.private and not await self.may_see(podcast_id, viewer):
            raise _no_podcast()
        return podcast

    async def _load_podcast(self, podcast_id: UUID) -> Podcast:
        async with self._pool.connection() as conn:
            podcast = await podcast_rows.get(conn, podcast_id)
        if podcast is None:
            raise _no_podcast()
        return shown(podcast)

    async def list_podcasts(
        self, *, limit: int, cursor: str | None, query: str | None, viewer: Viewer
    ) -> Page[Podcast]:
        """The podcasts ``viewer`` may see, newest first."""
        after = Cursor.decode(cursor) if cursor else None

        async def load(who: Viewer) -> Page[Podcast]:
            async with self._pool.connection() as conn:
                page = await podcast_rows.list_page(
                    conn, limit=limit, after=after, query=query, viewer=who
                )
            return Page([shown(p) for p in page.items], page.next_cursor)

        if viewer is not None:
            async with self._pool.connection() as conn:
                if viewer == EVERYONE or await podcast_rows.subscribes_privately(conn, viewer):
                    return await load(viewer)
        if self._cache is None:
            return await load(None)
        return await self._cache.get_or_compute(
            {"public_podcasts": [limit, cursor, query]},
            lambda: load(None),
            encode=lambda p: _PAGE.dump_python(p, mode="json"),
            decode=_PAGE.validate_python,
        )

    async def get_episode(self, episode_id: UUID, *, viewer: Viewer) -> Episode:
        async with self._pool.connection() as conn:
            episode = await episode_rows.get(conn, episode_id)
            if episode is None or not await podcast_rows.is_visible(
                conn, episode.podcast_id, viewer
            ):
                raise _no_episode()
        return episode

    async def list_episodes(
        self,
        podcast_id: UUID,
        *,
        viewer: Viewer,
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
            if not await podcast_rows.is_visible(conn, podcast_id, viewer):
                raise _no_podcast()
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
        """Apple's results, each with the catalog's podcast id when we already have it
        publicly."""
        found = await self._apple.search(term, limit=limit, country=country)
        out: list[tuple[ApplePodcast, UUID | None]] = []
        async with self._pool.connection() as conn:
            for podcast in found:
                known = await podcast_rows.find_by_apple_id(
                    conn, podcast.apple_id, public_only=True
                )
                if known is None and podcast.feed_url:
                    known = await podcast_rows.find_by_url(conn, podcast.feed_url, public_only=True)
                out.append((podcast, known))
        return out

    async def export_opml(self, *, viewer: Viewer) -> bytes:
        """The podcasts ``viewer`` may see as OPML: the public catalog, plus a subscriber's own
        private feeds (their URLs are theirs)."""
        async with self._pool.connection() as conn:
            podcasts = await podcast_rows.all_for_export(conn, viewer)
        return render_opml([shown(p) for p in podcasts])
