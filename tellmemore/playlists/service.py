"""Playlists of whole episodes and time ranges, and the listening history that lets a reader
skip what they have already heard.

Who may see a playlist: its owner always; anyone for a public one; anyone holding the share
link for an unlisted one. Everyone else gets the same 404 as for an id that does not exist, so
a private playlist's existence is never revealed. Only the owner edits; a reader of a public
playlist who tries gets 403. Items of a private podcast (``catalog.visibility``) show only to
that podcast's subscribers, in views and exports alike, and only they can add its episodes.

Every edit locks the playlist's row for its transaction (positions stay dense 0..n-1 however
many clients edit at once) and bumps ``version``, which the API hands out as the ETag: an edit
sent with an ``If-Match`` that no longer holds fails with ``playlist_changed``.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from tellmemore.catalog import EVERYONE, Viewer
from tellmemore.clock import Clock
from tellmemore.errors import CatalogError, ErrorKind
from tellmemore.playlists import rules
from tellmemore.playlists.history import check_times, is_heard
from tellmemore.playlists.rows import history as history_rows
from tellmemore.playlists.rows import playlists as rows
from tellmemore.playlists.rows.history import HistoryEntry, merge_ranges
from tellmemore.playlists.rows.playlists import (
    Conn,
    Kind,
    NewItem,
    Playlist,
    PlaylistItem,
    Visibility,
)
from tellmemore.playlists.types import ItemEdit, PlaylistChanged, PlaylistContents
from tellmemore.settings import PlaylistSettings
from tellmemore.storage import Cursor, Page

__all__ = [
    "HistoryEntry",
    "ItemEdit",
    "NewItem",
    "Playlist",
    "PlaylistChanged",
    "PlaylistContents",
    "PlaylistItem",
    "Playlists",
    "is_heard",
    "merge_ranges",
]


class Playlists:
    """Playlists, their items, and listening history over PostgreSQL."""

    def __init__(self, pool: AsyncConnectionPool, settings: PlaylistSettings, clock: Clock) -> None:
        self._pool = pool
        self._settings = settings
        self._clock = clock

    # ---- playlists -----------------------------------------------------------------------

    def _title(self, title: str) -> str:
        checked = rules.text(title, self._settings.max_title_chars, "title_too_long", "title")
        if checked is None:
            raise CatalogError("title_required", "A playlist needs a title.")
        return checked

    async def create(
        self,
        owner_id: UUID,
        *,
        title: str,
        description: str | None = None,
        visibility: Visibility = "private",
        skip_heard: bool = False,
        kind: Kind = "manual",
        topic: dict[str, Any] | None = None,
    ) -> Playlist:
        """A new, empty playlist. Topic playlists (``kind="topic"``) carry the ``topic`` they
        are built from; manual ones have none."""
        if (kind == "topic") != (topic is not None):
            raise CatalogError("invalid_topic", "Topic playlists, and only they, have a topic.")
        limits = self._settings
        title = self._title(title)
        description = rules.text(
            description, limits.max_description_chars, "description_too_long", "description"
        )
        async with self._pool.connection() as conn, conn.transaction():
            if await rows.lock_owner_and_count(conn, owner_id) >= limits.max_playlists_per_user:
                raise CatalogError(
                    "too_many_playlists",
                    f"You can have at most {limits.max_playlists_per_user} playlists.",
                    details={"max": limits.max_playlists_per_user},
                )
            return await rows.insert(
                conn,
                owner_id,
                title=title,
                description=description,
                visibility=visibility,
                share_token=secrets.token_urlsafe(16),
                kind=kind,
                topic=rules.check_topic(topic) if topic is not None else None,
                skip_heard=skip_heard,
            )

    async def list_mine(
        self, owner_id: UUID, *, limit: int, cursor: str | None, kind: Kind | None = None
    ) -> Page[Playlist]:
        after = Cursor.decode(cursor) if cursor else None
        async with self._pool.connection() as conn:
            return await rows.list_owned(conn, owner_id, limit=limit, after=after, kind=kind)

    async def list_public(self, *, limit: int, cursor: str | None) -> Page[Playlist]:
        after = Cursor.decode(cursor) if cursor else None
        async with self._pool.connection() as conn:
            return await rows.list_public(conn, limit=limit, after=after)

    async def get(
        self, playlist_id: UUID, *, viewer: UUID | None, skip_heard: bool | None = None
    ) -> PlaylistContents:
        """The playlist with its items, if ``viewer`` (None: anonymous) may see it by id.
        ``skip_heard`` (default: the playlist's own setting, for its owner) leaves out what the
        viewer has heard."""
        async with self._pool.connection() as conn:
            playlist = rules.readable(await rows.get(conn, playlist_id), viewer)
            return await self._contents(conn, playlist, viewer, skip_heard)

    async def get_shared(
        self, share_token: str, *, viewer: UUID | None, skip_heard: bool | None = None
    ) -> PlaylistContents:
        """The playlist behind a share link: works while it is unlisted or public."""
        async with self._pool.connection() as conn:
            playlist = await rows.get_by_token(conn, share_token)
            if playlist is None or (
                playlist.visibility == "private" and playlist.owner_id != viewer
            ):
                raise rules.not_found()
            return await self._contents(conn, playlist, viewer, skip_heard)

    async def _contents(
        self, conn: Conn, playlist: Playlist, viewer: UUID | None, skip_heard: bool | None
    ) -> PlaylistContents:
        items = await rows.items(conn, playlist.id, viewer=viewer)
        if skip_heard is None:
            skip_heard = playlist.skip_heard and viewer == playlist.owner_id
        if not skip_heard or viewer is None or not items:
            return PlaylistContents(playlist, items)
        heard = await history_rows.heard_ranges(conn, viewer, {i.episode_id for i in items})
        kept = [
            i
            for i in items
            if not is_heard(i.start_s, i.end_s, i.episode_duration_s, heard.get(i.episode_id, []))
        ]
        return PlaylistContents(playlist, kept, skipped=len(items) - len(kept))

    @asynccontextmanager
    async def _editing(
        self, playlist_id: UUID, actor: UUID, if_match: Collection[int] | None
    ) -> AsyncIterator[tuple[Conn, Playlist]]:
        """A transaction holding the playlist's lock, once ``actor`` is known to own it and
        its version to be one of ``if_match`` (None: any)."""
        async with self._pool.connection() as conn, conn.transaction():
            playlist = rules.owned(await rows.lock(conn, playlist_id), actor)
            if if_match is not None and playlist.version not in if_match:
                raise PlaylistChanged(playlist.version)
            yield conn, playlist

    async def update(
        self,
        playlist_id: UUID,
        actor: UUID,
        *,
        title: str | None = None,
        description: str | None = None,
        clear_description: bool = False,
        visibility: Visibility | None = None,
        skip_heard: bool | None = None,
        topic: dict[str, Any] | None = None,
        if_match: Collection[int] | None = None,
    ) -> Playlist:
        """Change the given fields (None leaves one as it is)."""
        changes: dict[str, Any] = {}
        if title is not None:
            changes["title"] = self._title(title)
        if description is not None or clear_description:
            changes["description"] = rules.text(description, self._settings.max_description_chars,
                                           "description_too_long", "description")  # fmt: skip
        if visibility is not None:
            changes["visibility"] = visibility
        if skip_heard is not None:
            changes["skip_heard"] = skip_heard
        async with self._editing(playlist_id, actor, if_match) as (conn, playlist):
            if topic is not None:
                if playlist.kind != "topic":
                    raise CatalogError("invalid_topic", "Only topic playlists have a topic.")
                changes["topic"] = rules.check_topic(topic)
            if not changes:  # nothing to change: the version (the ETag) stays
                return playlist
            return await rows.update(conn, playlist.id, changes)

    async def regenerate_share_token(
        self, playlist_id: UUID, actor: UUID, *, if_match: Collection[int] | None = None
    ) -> Playlist:
        """A new share link; the old one stops working."""
        async with self._editing(playlist_id, actor, if_match) as (conn, playlist):
            return await rows.update(conn, playlist.id, {"share_token": secrets.token_urlsafe(16)})

    async def delete(
        self, playlist_id: UUID, actor: UUID, *, if_match: Collection[int] | None = None
    ) -> None:
        async with self._editing(playlist_id, actor, if_match) as (conn, playlist):
            await rows.delete(conn, playlist.id)

    # ---- items -----------------------------------------------------------------------------

    async def _check_items(self, conn: Conn, new: Sequence[NewItem], actor: UUID) -> None:
        lengths = await rows.episode_lengths(conn, [i.episode_id for i in new], viewer=actor)
        for index, item in enumerate(new):
            if item.episode_id not in lengths:
                raise CatalogError(
                    "episode_not_found",
                    "There is no such episode.",
                    details={"episode_id": str(item.episode_id), "index": index},
                )
            check_times(item.start_s, item.end_s, lengths[item.episode_id])

    async def add_items(
        self,
        playlist_id: UUID,
        actor: UUID,
        items: Sequence[NewItem],
        *,
        position: int | None = None,
        if_match: Collection[int] | None = None,
        refreshed_at: datetime | None = None,
    ) -> tuple[list[PlaylistItem], int]:
        """Insert ``items`` at ``position`` (appended when None), all or none; returns them and
        the playlist's new version. ``refreshed_at`` (a database time) moves a topic
        playlist's refresh mark in the same transaction, so a refresh that added its items
        has also recorded what it covered."""
        limit = self._settings.max_note_chars
        new = [replace(i, note=rules.text(i.note, limit, "note_too_long", "note")) for i in items]
        async with self._editing(playlist_id, actor, if_match) as (conn, playlist):
            if not new and refreshed_at is None:
                return [], playlist.version
            await self._check_items(conn, new, actor)
            count = await rows.compact(conn, playlist.id)
            at = count if position is None else position
            rules.check_position(at, count)
            most = self._settings.max_items
            if count + len(new) > most:
                raise CatalogError(
                    "too_many_items",
                    f"A playlist holds at most {most} items.",
                    details={"max": most, "count": count},
                )
            ids = await rows.insert_items(conn, playlist.id, at, new)
            if refreshed_at is not None:
                changes = {"refreshed_at": refreshed_at}
                version = (await rows.update(conn, playlist.id, changes)).version
            else:
                version = await rows.bump(conn, playlist.id)
            wanted = set(ids)
            added = [i for i in await rows.items(conn, playlist.id, viewer=actor) if i.id in wanted]
        return added, version

    async def add_item(
        self,
        playlist_id: UUID,
        actor: UUID,
        item: NewItem,
        *,
        position: int | None = None,
        if_match: Collection[int] | None = None,
    ) -> ItemEdit:
        """One item at ``position`` (0 = first; appended when None)."""
        added, version = await self.add_items(
            playlist_id, actor, [item], position=position, if_match=if_match
        )
        return ItemEdit(added[0], version)

    async def _item(
        self, conn: Conn, playlist_id: UUID, item_id: UUID, viewer: Viewer
    ) -> PlaylistItem:
        item = await rows.get_item(conn, playlist_id, item_id, viewer=viewer)
        if item is None:
            raise CatalogError(
                "item_not_found", "The playlist has no such item.", ErrorKind.NOT_FOUND
            )
        return item

    async def edit_item(
        self,
        playlist_id: UUID,
        item_id: UUID,
        actor: UUID,
        *,
        position: int | None = None,
        note: str | None = None,
        clear_note: bool = False,
        if_match: Collection[int] | None = None,
    ) -> ItemEdit:
        """Move an item to ``position`` (the others close up around it) and/or change its
        note."""
        async with self._editing(playlist_id, actor, if_match) as (conn, playlist):
            count = await rows.compact(conn, playlist.id)
            item = await self._item(conn, playlist.id, item_id, actor)
            if position is not None:
                rules.check_position(position, count - 1)
                await rows.move_item(conn, playlist.id, item.id, item.position, position)
            if note is not None or clear_note:
                checked = rules.text(note, self._settings.max_note_chars, "note_too_long", "note")
                await rows.set_note(conn, item.id, checked)
            version = await rows.bump(conn, playlist.id)
            return ItemEdit(await self._item(conn, playlist.id, item.id, actor), version)

    async def remove_item(
        self,
        playlist_id: UUID,
        item_id: UUID,
        actor: UUID,
        *,
        if_match: Collection[int] | None = None,
    ) -> int:
        """Remove an item (the ones after it move up); returns the playlist's new version."""
        async with self._editing(playlist_id, actor, if_match) as (conn, playlist):
            await rows.compact(conn, playlist.id)
            # The owner may remove an item of a private podcast they no longer see.
            item = await self._item(conn, playlist.id, item_id, EVERYONE)
            await rows.delete_item(conn, playlist.id, item.id, item.position)
            return await rows.bump(conn, playlist.id)

    # ---- listening history ---------------------------------------------------------------

    async def mark_item_heard(self, playlist_id: UUID, item_id: UUID, viewer: UUID) -> HistoryEntry:
        """Record the item's episode or range as heard by a viewer of the playlist."""
        async with self._pool.connection() as conn:
            playlist = rules.readable(await rows.get(conn, playlist_id), viewer)
            item = await self._item(conn, playlist.id, item_id, viewer)
            return await history_rows.add(conn, viewer, item.episode_id, item.start_s, item.end_s)
