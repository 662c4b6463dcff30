"""Topic playlists: made by "tell me more" and grown as new episodes are processed (the email
digest that reports what they grew by is :mod:`tellmemore.notify.service`).

Refreshing is a catch-up, not an event handler: a topic playlist remembers when it was last
refreshed, and a refresh searches only the episodes processed since then. Running it after each
processed episode keeps playlists current; running it again (a timer, a retry, ``tmm topics
refresh``) after a crash finds the same episodes and adds nothing twice (segments already in
the playlist are excluded).

The items the refresher adds are marked ``added_by = 'topic'`` with no ``notified_at``: that is
what the digest reports.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from tellmemore.catalog import visible_sql
from tellmemore.clock import Clock
from tellmemore.errors import CatalogError
from tellmemore.playlists.history import ListeningHistory
from tellmemore.playlists.service import NewItem, Playlist, Playlists
from tellmemore.search import NO_FILTERS, HeardRanges, Plan, SearchFilters, TopicPlanner

log = logging.getLogger(__name__)

_REFRESH_LOCK = 0x746D6D2D746F70  # "tmm-top"


@dataclass(frozen=True)
class RefreshReport:
    playlists: int
    items_added: int


def filters_to_doc(filters: SearchFilters) -> dict[str, Any]:
    return {
        "podcast_ids": list(filters.podcast_ids),
        "published_after": filters.published_after.isoformat() if filters.published_after else None,
        "published_before": filters.published_before.isoformat()
        if filters.published_before
        else None,
        "min_duration_s": filters.min_duration_s,
        "max_duration_s": filters.max_duration_s,
    }


def filters_from_doc(doc: dict[str, Any] | None) -> SearchFilters:
    if not doc:
        return NO_FILTERS

    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    return SearchFilters(
        podcast_ids=tuple(doc.get("podcast_ids") or ()),
        published_after=when(doc.get("published_after")),
        published_before=when(doc.get("published_before")),
        min_duration_s=doc.get("min_duration_s"),
        max_duration_s=doc.get("max_duration_s"),
    )


def plan_items(plan: Plan) -> list[NewItem]:
    return [
        NewItem(
            episode_id=UUID(item.episode_id),
            start_s=item.start_s,
            end_s=item.end_s,
            segment_id=",".join(item.segment_ids),
            reason=item.reason.snippet,
            summary=item.summary,
            score=round(item.similarity, 4),
            added_by="topic",
        )
        for item in plan.items
    ]


class TopicPlaylists:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        playlists: Playlists,
        history: ListeningHistory,
        planner: TopicPlanner,
        clock: Clock,
    ) -> None:
        self._pool = pool
        self._playlists = playlists
        self._history = history
        self.planner = planner
        self._clock = clock

    def heard_for(self, user_id: UUID) -> Any:
        """The planner's "what did this listener hear" callback for one user."""

        async def heard(episode_ids: Any) -> HeardRanges:
            ranges = await self._history.heard_ranges(user_id, [UUID(e) for e in episode_ids])
            return {str(k): v for k, v in ranges.items()}

        return heard

    async def save(
        self,
        owner_id: UUID,
        plan: Plan,
        *,
        title: str | None,
        filters: SearchFilters,
        minutes: float,
        skip_heard: bool,
        as_of: datetime | None = None,
    ) -> Playlist:
        """``plan`` as a new topic playlist. Its first items are not digest material: the
        owner is looking at them. ``as_of`` is when the plan's search ran: episodes processed
        after it are left to the first refresh, so none falls between plan and save."""
        playlist = await self._playlists.create(
            owner_id,
            title=title or plan.topic[:200],
            kind="topic",
            topic={"query": plan.topic, "minutes": minutes, "filters": filters_to_doc(filters)},
            skip_heard=skip_heard,
        )
        if plan.items:
            await self._playlists.add_items(
                playlist.id, owner_id, plan_items(plan), mark_refreshed=True
            )
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE playlist_items SET notified_at = now() WHERE playlist_id = %s",
                (playlist.id,),
            )
            await conn.execute(
                "UPDATE playlists SET refreshed_at = %s WHERE id = %s",
                (as_of or self._clock(), playlist.id),
            )
        return (await self._playlists.get(playlist.id, viewer=owner_id, skip_heard=False)).playlist

    async def refresh_all(self) -> RefreshReport:
        """Refresh every topic playlist that has episodes processed since its last refresh.

        One refresh at a time across all processes (a PostgreSQL advisory lock, waited for):
        two concurrent refreshes would both see the same new episodes and add them twice.
        Waiting rather than skipping guarantees the caller's new episode is looked at."""
        async with self._pool.connection() as lock:
            await lock.execute("SELECT pg_advisory_lock(%s)", (_REFRESH_LOCK,))
            try:
                return await self._refresh_all()
            finally:
                await lock.execute("SELECT pg_advisory_unlock(%s)", (_REFRESH_LOCK,))

    async def _refresh_all(self) -> RefreshReport:
        async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT p.id, p.owner_id FROM playlists p WHERE p.kind = 'topic' AND EXISTS ("
                " SELECT 1 FROM episodes e WHERE e.status = 'done'"
                " AND e.processed_at > coalesce(p.refreshed_at, p.created_at))"
                " ORDER BY p.refreshed_at NULLS FIRST"
            )
            due = await cur.fetchall()
        added = 0
        for row in due:
            try:
                added += await self.refresh(row["id"], row["owner_id"])
            except CatalogError as exc:  # a full or vanished playlist must not stop the rest
                log.warning("topic playlist %s not refreshed: %s", row["id"], exc.code)
        return RefreshReport(len(due), added)

    async def refresh(self, playlist_id: UUID, owner_id: UUID) -> int:
        """Append to one topic playlist what episodes processed since its last refresh say
        about its topic; returns how many items were added."""
        now = self._clock()
        playlist = (
            await self._playlists.get(playlist_id, viewer=owner_id, skip_heard=False)
        ).playlist
        topic = playlist.topic
        if topic is None:
            raise CatalogError("not_a_topic_playlist", "Only topic playlists are refreshed.")
        since = playlist.refreshed_at or playlist.created_at
        # Only episodes the owner may see: a private podcast's only for its subscribers.
        visible, params = visible_sql(owner_id)
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT e.id FROM episodes e JOIN podcasts p ON p.id = e.podcast_id"
                " WHERE e.status = 'done' AND e.processed_at > %s AND e.processed_at <= %s"
                f" AND {visible}".encode(),
                (since, now, *params),
            )
            episode_ids = [str(r[0]) for r in await cur.fetchall()]
            cur = await conn.execute(
                "SELECT segment_id FROM playlist_items WHERE playlist_id = %s"
                " AND segment_id IS NOT NULL",
                (playlist_id,),
            )
            present = [s for (ids,) in await cur.fetchall() for s in ids.split(",")]
        if not episode_ids:
            await self._stamp(playlist_id, now)
            return 0
        base = filters_from_doc(topic.get("filters"))
        filters = replace(base, episode_ids=tuple(episode_ids))
        plan = await self.planner.plan(
            topic["query"],
            float(topic["minutes"]),
            filters=filters,
            heard=self.heard_for(owner_id) if playlist.skip_heard else None,
            existing_segment_ids=present,
            strict=True,
        )
        items = plan_items(plan)
        if items:
            await self._playlists.add_items(playlist_id, owner_id, items)
        await self._stamp(playlist_id, now)
        log.info("topic playlist %s refreshed: %d items added", playlist_id, len(items))
        return len(items)

    async def _stamp(self, playlist_id: UUID, when: datetime) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE playlists SET refreshed_at = %s WHERE id = %s", (when, playlist_id)
            )


__all__ = ["RefreshReport", "TopicPlaylists"]
