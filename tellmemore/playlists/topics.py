"""Topic playlists: made by "tell me more" and grown as new episodes are processed (the email
digest that reports what they grew by is :mod:`tellmemore.notify.service`).

Refreshing is a catch-up, not an event handler: a topic playlist carries a mark
(``refreshed_at``), and a refresh searches only the episodes processed after it, then moves it.
Running it after each processed episode keeps playlists current; running it again (a timer, a
retry, ``tmm topics refresh``) after a crash finds the same episodes and adds nothing twice.
Growth goes through the planner's own rules (relevance floor, heard passages left out, at most
the playlist's minutes per growth), and the passages already in the playlist count as chosen:
a passage nearly the same as one of them (the same audio from another feed) is not added.

**Database time on both sides.** ``processed_at`` is PostgreSQL's ``now()`` in the transaction
that finished the episode, so the marks are PostgreSQL's too, never the app's clock: a
*checkpoint* is the database's statement time held back to the start of any transaction still
in flight (it may yet commit an episode stamped with its own start). Every episode processed
up to a checkpoint is visible once it is taken, so neither a clock hours off nor a late commit
can hide an episode from a refresh or show it twice. (``pg_stat_activity`` shows a role the
transactions of its own sessions, or of all with ``pg_read_all_stats``: the app's one role.)

**One refresh of a playlist at a time**: two would both see the same new episodes and add them
twice. The refresh reads the mark, grows the playlist and moves the mark under a
transaction-scoped advisory lock keyed by the playlist, on a connection of its own for that
transaction. The lock ends with the transaction (commit, rollback, cancellation, a dropped
connection), so a refresh that fails midway cannot leave it behind on a pooled connection.
A second refresh of the same playlist waits for the first (up to ``_LOCK_WAIT``) rather than
skipping it, so the caller's new episode is looked at; other playlists refresh side by side.

A playlist without a mark is still being saved (:meth:`TopicPlaylists.save` stamps it last,
once its first items are in) and is not refreshed. The items a refresh adds are marked
``added_by = 'topic'`` with no ``notified_at``: that is what the digest reports.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.errors import LockNotAvailable
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from tellmemore.catalog import visible_sql
from tellmemore.errors import CatalogError
from tellmemore.playlists import rules
from tellmemore.playlists.history import ListeningHistory
from tellmemore.playlists.service import NewItem, Playlist, Playlists
from tellmemore.search import NO_FILTERS, HeardRanges, Plan, SearchFilters, TopicPlanner

log = logging.getLogger(__name__)

# The advisory-lock namespace of topic refreshes ("tmmt"); the second key is the playlist's.
_REFRESH_LOCKS = 0x746D6D74
_LOCK_WAIT = "20s"
# See the module docstring: the latest time at or before which no episode can still appear.
# Strictly before any transaction in flight: its episode will be stamped with its start.
_CHECKPOINT = (
    "least(statement_timestamp(), (SELECT min(a.xact_start) FROM pg_stat_activity a"
    " WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()"
    " AND a.backend_type = 'client backend')) - interval '1 microsecond'"
)


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
    ) -> None:
        self._pool = pool
        self._playlists = playlists
        self._history = history
        self.planner = planner

    def heard_for(self, user_id: UUID) -> Any:
        """The planner's "what did this listener hear" callback for one user."""

        async def heard(episode_ids: Any) -> HeardRanges:
            ranges = await self._history.heard_ranges(user_id, [UUID(e) for e in episode_ids])
            return {str(k): v for k, v in ranges.items()}

        return heard

    async def checkpoint(self) -> datetime:
        """The database's checkpoint now (see the module docstring): take it before a plan's
        search and hand it to :meth:`save` as ``as_of``."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(f"SELECT {_CHECKPOINT}".encode())
            row = await cur.fetchone()
        assert row is not None
        when: datetime = row[0]
        return when

    async def save(
        self,
        owner_id: UUID,
        plan: Plan,
        *,
        title: str | None,
        filters: SearchFilters,
        minutes: float,
        skip_heard: bool,
        as_of: datetime,
    ) -> Playlist:
        """``plan`` as a new topic playlist. Its first items are not digest material: the
        owner is looking at them. ``as_of`` is the :meth:`checkpoint` taken before the plan's
        search: episodes processed after it are left to the first refresh, which the mark,
        stamped last, lets in only once the plan's items are there to compare with."""
        playlist = await self._playlists.create(
            owner_id,
            title=title or plan.topic[:200],
            kind="topic",
            topic={"query": plan.topic, "minutes": minutes, "filters": filters_to_doc(filters)},
            skip_heard=skip_heard,
        )
        if plan.items:
            await self._playlists.add_items(playlist.id, owner_id, plan_items(plan))
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(
                "UPDATE playlist_items SET notified_at = now() WHERE playlist_id = %s",
                (playlist.id,),
            )
            await conn.execute(
                "UPDATE playlists SET refreshed_at = %s WHERE id = %s", (as_of, playlist.id)
            )
        return (await self._playlists.get(playlist.id, viewer=owner_id, skip_heard=False)).playlist

    async def refresh_all(self) -> RefreshReport:
        """Refresh every topic playlist that has episodes processed after its mark."""
        async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT p.id, p.owner_id FROM playlists p WHERE p.kind = 'topic'"
                " AND p.refreshed_at IS NOT NULL AND EXISTS (SELECT 1 FROM episodes e"
                " WHERE e.status = 'done' AND e.processed_at > p.refreshed_at)"
                " ORDER BY p.refreshed_at"
            )
            due = await cur.fetchall()
        added = 0
        for row in due:
            try:
                added += await self.refresh(row["id"], row["owner_id"])
            except CatalogError as exc:  # a full or vanished playlist must not stop the rest
                log.warning("topic playlist %s not refreshed: %s", row["id"], exc.code)
            except LockNotAvailable:  # still due: the next refresh takes it up
                log.warning("topic playlist %s not refreshed: another refresh held it", row["id"])
        return RefreshReport(len(due), added)

    async def refresh(self, playlist_id: UUID, owner_id: UUID) -> int:
        """Append to one topic playlist what episodes processed since its mark say about its
        topic, and move the mark; returns how many items were added. All of it under the
        playlist's transaction-scoped refresh lock (see the module docstring)."""
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT set_config('lock_timeout', %s, true)", (_LOCK_WAIT,))
            await conn.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                (_REFRESH_LOCKS, str(playlist_id)),
            )
            cur = await conn.execute(
                "SELECT topic, skip_heard, refreshed_at,"
                f" greatest(refreshed_at, {_CHECKPOINT}) FROM playlists"
                " WHERE id = %s AND owner_id = %s".encode(),
                (playlist_id, owner_id),
            )
            row = await cur.fetchone()
            if row is None:
                raise rules.not_found()
            topic, skip_heard, since, upto = row
            if topic is None:
                raise CatalogError("not_a_topic_playlist", "Only topic playlists are refreshed.")
            if since is None:
                return 0  # still being saved
            added = await self._grow(conn, playlist_id, owner_id, topic, skip_heard, since, upto)
            if not added:
                await conn.execute(
                    "UPDATE playlists SET refreshed_at = %s WHERE id = %s", (upto, playlist_id)
                )
        log.info("topic playlist %s refreshed: %d items added", playlist_id, added)
        return added

    async def _grow(
        self,
        conn: AsyncConnection[Any],
        playlist_id: UUID,
        owner_id: UUID,
        topic: dict[str, Any],
        skip_heard: bool,
        since: datetime,
        upto: datetime,
    ) -> int:
        """Plan over the episodes processed in ``(since, upto]`` that the owner may see (a
        private podcast's only for its subscribers) and add the plan with the mark ``upto``,
        in one transaction; returns how many items were added (none: the caller moves the
        mark)."""
        visible, params = visible_sql(owner_id)
        cur = await conn.execute(
            "SELECT e.id FROM episodes e JOIN podcasts p ON p.id = e.podcast_id"
            " WHERE e.status = 'done' AND e.processed_at > %s AND e.processed_at <= %s"
            f" AND {visible}".encode(),
            (since, upto, *params),
        )
        episode_ids = [str(r[0]) for r in await cur.fetchall()]
        if not episode_ids:
            return 0
        cur = await conn.execute(
            "SELECT segment_id FROM playlist_items WHERE playlist_id = %s"
            " AND segment_id IS NOT NULL",
            (playlist_id,),
        )
        present = [s for (ids,) in await cur.fetchall() for s in ids.split(",")]
        filters = replace(filters_from_doc(topic.get("filters")), episode_ids=tuple(episode_ids))
        plan = await self.planner.plan(
            topic["query"],
            float(topic["minutes"]),
            filters=filters,
            heard=self.heard_for(owner_id) if skip_heard else None,
            existing_segment_ids=present,
            strict=True,
        )
        items = plan_items(plan)
        if items:
            await self._playlists.add_items(playlist_id, owner_id, items, refreshed_at=upto)
        return len(items)


__all__ = ["RefreshReport", "TopicPlaylists"]
