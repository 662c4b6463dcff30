"""Playlist and playlist-item rows.

Positions are dense (0..n-1) per playlist. Every function that changes them expects the caller
to hold the playlist row's lock (:func:`lock`) for the whole transaction, so two edits of one
playlist are serialised and never see each other's half-shifted positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from tellmemore.catalog import Viewer, visible_sql
from tellmemore.storage import Cursor, Page

Conn = AsyncConnection[Any]
Visibility = Literal["private", "unlisted", "public"]
Kind = Literal["manual", "topic"]
AddedBy = Literal["user", "topic"]


@dataclass(frozen=True)
class Playlist:
    """A playlist's own fields, without its items."""

    id: UUID
    owner_id: UUID
    title: str
    description: str | None
    visibility: Visibility
    share_token: str
    kind: Kind
    topic: dict[str, Any] | None
    skip_heard: bool
    refreshed_at: datetime | None
    version: int
    item_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PlaylistItem:
    """One entry: a whole episode (no times) or a time range of it, with the catalog fields a
    player or an export needs."""

    id: UUID
    playlist_id: UUID
    position: int
    episode_id: UUID
    start_s: float | None
    end_s: float | None
    note: str | None
    segment_id: str | None
    reason: str | None
    summary: str | None
    score: float | None
    added_by: AddedBy
    added_at: datetime
    episode_title: str
    episode_link: str | None
    published_at: datetime | None
    episode_duration_s: float | None  # the longest we know (feed or measured audio)
    enclosure_url: str | None
    enclosure_type: str | None
    enclosure_length: int | None
    image_url: str | None
    podcast_id: UUID
    podcast_title: str

    @property
    def length_s(self) -> float | None:
        """How long this item plays, when known."""
        if self.start_s is not None and self.end_s is not None:
            return self.end_s - self.start_s
        return self.episode_duration_s


@dataclass(frozen=True)
class NewItem:
    """What adding an item needs; the topic builder fills the matching fields too."""

    episode_id: UUID
    start_s: float | None = None
    end_s: float | None = None
    note: str | None = None
    segment_id: str | None = None
    reason: str | None = None
    summary: str | None = None
    score: float | None = None
    added_by: AddedBy = "user"


_PLAYLIST = (
    "SELECT pl.id, pl.owner_id, pl.title, pl.description, pl.visibility, pl.share_token,"
    " pl.kind, pl.topic, pl.skip_heard, pl.refreshed_at, pl.version,"
    " (SELECT count(*) FROM playlist_items i WHERE i.playlist_id = pl.id)::int AS item_count,"
    " pl.created_at, pl.updated_at FROM playlists pl"
)

_ITEM = (
    "SELECT i.id, i.playlist_id, i.position, i.episode_id, i.start_s, i.end_s, i.note,"
    " i.segment_id, i.reason, i.summary, i.score, i.added_by, i.added_at,"
    " e.title AS episode_title, e.link AS episode_link, e.published_at,"
    " greatest(e.audio_duration_s, e.duration_s) AS episode_duration_s,"
    " e.enclosure_url, e.enclosure_type, e.enclosure_length,"
    " coalesce(e.image_url, p.image_url) AS image_url, e.podcast_id, p.title AS podcast_title"
    " FROM playlist_items i JOIN episodes e ON e.id = i.episode_id"
    " JOIN podcasts p ON p.id = e.podcast_id"
)


async def _one(conn: Conn, sql: str, params: Sequence[Any]) -> Playlist | None:
    async with conn.cursor(row_factory=class_row(Playlist)) as cur:
        await cur.execute(sql.encode(), params)
        return await cur.fetchone()


async def insert(
    conn: Conn,
    owner_id: UUID,
    *,
    title: str,
    description: str | None,
    visibility: Visibility,
    share_token: str,
    kind: Kind,
    topic: dict[str, Any] | None,
    skip_heard: bool,
) -> Playlist:
    cur = await conn.execute(
        "INSERT INTO playlists (owner_id, title, description, visibility, share_token, kind,"
        " topic, skip_heard) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (owner_id, title, description, visibility, share_token, kind,
         Jsonb(topic) if topic is not None else None, skip_heard),
    )  # fmt: skip
    row = await cur.fetchone()
    assert row is not None
    created = await get(conn, row[0])
    assert created is not None
    return created


async def lock_owner_and_count(conn: Conn, owner_id: UUID) -> int:
    """How many playlists the user has, with the user's row locked so that two concurrent
    creations cannot both slip under the limit."""
    await conn.execute("SELECT 1 FROM users WHERE id = %s FOR NO KEY UPDATE", (owner_id,))
    cur = await conn.execute("SELECT count(*) FROM playlists WHERE owner_id = %s", (owner_id,))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def get(conn: Conn, playlist_id: UUID) -> Playlist | None:
    return await _one(conn, _PLAYLIST + " WHERE pl.id = %s", (playlist_id,))


async def get_by_token(conn: Conn, share_token: str) -> Playlist | None:
    return await _one(conn, _PLAYLIST + " WHERE pl.share_token = %s", (share_token,))


async def lock(conn: Conn, playlist_id: UUID) -> Playlist | None:
    """The playlist, locked until the transaction ends: every edit of it starts here."""
    return await _one(conn, _PLAYLIST + " WHERE pl.id = %s FOR UPDATE OF pl", (playlist_id,))


async def _page(conn: Conn, where: str, params: list[Any], limit: int,
                after: Cursor | None) -> Page[Playlist]:  # fmt: skip
    if after is not None:
        where += " AND (pl.created_at, pl.id) < (%s, %s)"
        params += [after.at, after.id]
    async with conn.cursor(row_factory=class_row(Playlist)) as cur:
        await cur.execute(
            f"{_PLAYLIST} WHERE {where} ORDER BY pl.created_at DESC, pl.id DESC LIMIT %s".encode(),
            [*params, limit + 1],
        )
        rows = await cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = Cursor(rows[-1].created_at, rows[-1].id).encode() if more and rows else None
    return Page(rows, nxt)


async def list_owned(
    conn: Conn, owner_id: UUID, *, limit: int, after: Cursor | None, kind: Kind | None
) -> Page[Playlist]:
    """The user's playlists, newest first."""
    where = "pl.owner_id = %s"
    params: list[Any] = [owner_id]
    if kind is not None:
        where += " AND pl.kind = %s"
        params.append(kind)
    return await _page(conn, where, params, limit, after)


async def list_public(conn: Conn, *, limit: int, after: Cursor | None) -> Page[Playlist]:
    """Everyone's public playlists, newest first."""
    return await _page(conn, "pl.visibility = 'public'", [], limit, after)


_UPDATABLE = frozenset(
    {"title", "description", "visibility", "skip_heard", "share_token", "topic", "refreshed_at"}
)


async def update(conn: Conn, playlist_id: UUID, changes: dict[str, Any]) -> Playlist:
    """Change the given fields (names from a fixed set) and bump the version."""
    unknown = set(changes) - _UPDATABLE
    assert not unknown, unknown
    sets = ["version = version + 1", "updated_at = now()"]
    params: list[Any] = []
    for name, value in changes.items():
        sets.append(f"{name} = %s")
        params.append(Jsonb(value) if name == "topic" and value is not None else value)
    await conn.execute(
        f"UPDATE playlists SET {', '.join(sets)} WHERE id = %s".encode(), [*params, playlist_id]
    )
    updated = await get(conn, playlist_id)
    assert updated is not None
    return updated


async def bump(conn: Conn, playlist_id: UUID) -> int:
    """Record that the items changed; returns the new version."""
    cur = await conn.execute(
        "UPDATE playlists SET version = version + 1, updated_at = now() WHERE id = %s "
        "RETURNING version",
        (playlist_id,),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def delete(conn: Conn, playlist_id: UUID) -> None:
    await conn.execute("DELETE FROM playlists WHERE id = %s", (playlist_id,))


# ---- items --------------------------------------------------------------------------------


async def items(conn: Conn, playlist_id: UUID, *, viewer: Viewer) -> list[PlaylistItem]:
    """The playlist's items that ``viewer`` may see: an episode of a private podcast shows
    only to its subscribers (its audio URL often carries their credentials too)."""
    visible, params = visible_sql(viewer)
    async with conn.cursor(row_factory=class_row(PlaylistItem)) as cur:
        await cur.execute(
            f"{_ITEM} WHERE i.playlist_id = %s AND {visible} ORDER BY i.position".encode(),
            (playlist_id, *params),
        )
        return await cur.fetchall()


async def get_item(
    conn: Conn, playlist_id: UUID, item_id: UUID, *, viewer: Viewer
) -> PlaylistItem | None:
    visible, params = visible_sql(viewer)
    async with conn.cursor(row_factory=class_row(PlaylistItem)) as cur:
        await cur.execute(
            f"{_ITEM} WHERE i.playlist_id = %s AND i.id = %s AND {visible}".encode(),
            (playlist_id, item_id, *params),
        )
        return await cur.fetchone()


async def compact(conn: Conn, playlist_id: UUID) -> int:
    """Renumber the items 0..n-1 if a gap has opened (an episode removed from the catalog takes
    its items with it); returns n."""
    cur = await conn.execute(
        "SELECT count(*), coalesce(max(position), -1) FROM playlist_items WHERE playlist_id = %s",
        (playlist_id,),
    )
    row = await cur.fetchone()
    assert row is not None
    count, highest = int(row[0]), int(row[1])
    if highest != count - 1:
        await conn.execute(
            "UPDATE playlist_items i SET position = r.n - 1 FROM (SELECT id, row_number() "
            "OVER (ORDER BY position) AS n FROM playlist_items WHERE playlist_id = %s) r "
            "WHERE i.id = r.id AND i.position <> r.n - 1",
            (playlist_id,),
        )
    return count


async def insert_items(
    conn: Conn, playlist_id: UUID, at: int, new: Sequence[NewItem]
) -> list[UUID]:
    """Insert ``new`` at positions ``at``, ``at + 1``, ... shifting what was there down."""
    await conn.execute(
        "UPDATE playlist_items SET position = position + %s "
        "WHERE playlist_id = %s AND position >= %s",
        (len(new), playlist_id, at),
    )
    ids: list[UUID] = []
    async with conn.cursor() as cur:
        for offset, item in enumerate(new):
            await cur.execute(
                "INSERT INTO playlist_items (playlist_id, position, episode_id, start_s, end_s,"
                " note, segment_id, reason, summary, score, added_by)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (playlist_id, at + offset, item.episode_id, item.start_s, item.end_s, item.note,
                 item.segment_id, item.reason, item.summary, item.score, item.added_by),
            )  # fmt: skip
            row = await cur.fetchone()
            assert row is not None
            ids.append(row[0])
    return ids


async def move_item(conn: Conn, playlist_id: UUID, item_id: UUID, old: int, new: int) -> None:
    """Move one item from ``old`` to ``new``; the items between close up behind it. One
    statement, so the uniqueness of positions is checked only once all have moved."""
    if old == new:
        return
    await conn.execute(
        "UPDATE playlist_items SET position = CASE WHEN id = %(item)s THEN %(new)s"
        " WHEN %(new)s > %(old)s THEN position - 1 ELSE position + 1 END"
        " WHERE playlist_id = %(playlist)s"
        " AND position BETWEEN least(%(old)s, %(new)s) AND greatest(%(old)s, %(new)s)",
        {"item": item_id, "old": old, "new": new, "playlist": playlist_id},
    )


async def set_note(conn: Conn, item_id: UUID, note: str | None) -> None:
    await conn.execute("UPDATE playlist_items SET note = %s WHERE id = %s", (note, item_id))


async def delete_item(conn: Conn, playlist_id: UUID, item_id: UUID, position: int) -> None:
    await conn.execute("DELETE FROM playlist_items WHERE id = %s", (item_id,))
    await conn.execute(
        "UPDATE playlist_items SET position = position - 1 "
        "WHERE playlist_id = %s AND position > %s",
        (playlist_id, position),
    )


async def episode_lengths(
    conn: Conn, episode_ids: Sequence[UUID], *, viewer: Viewer
) -> dict[UUID, float | None]:
    """The episodes among ``episode_ids`` that exist and ``viewer`` may see, each with the
    longest duration we know (the feed's or the measured audio's; None when neither is)."""
    visible, params = visible_sql(viewer)
    cur = await conn.execute(
        "SELECT e.id, greatest(e.audio_duration_s, e.duration_s) FROM episodes e"
        f" JOIN podcasts p ON p.id = e.podcast_id WHERE e.id = ANY(%s) AND {visible}".encode(),
        (list(episode_ids), *params),
    )
    return {row[0]: float(row[1]) if row[1] is not None else None for row in await cur.fetchall()}
