"""Podcast rows: lookups by id, URL or Apple id; writes from a parsed feed; fetch bookkeeping."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row, dict_row

from tellmemore.catalog.feeds.urls import url_key
from tellmemore.catalog.types import ParsedFeed, Podcast
from tellmemore.catalog.visibility import Viewer, visible_sql
from tellmemore.storage import Cursor, Page

Conn = AsyncConnection[Any]

_SELECT = """
SELECT p.id, p.feed_url, p.title, p.author, p.description, p.description_html, p.link,
       p.image_url, p.language, p.categories, p.explicit, p.apple_id, p.private,
       (SELECT count(*) FROM episodes e WHERE e.podcast_id = p.id)::int AS episode_count,
       ARRAY(SELECT u.url FROM podcast_feed_urls u
             WHERE u.podcast_id = p.id AND u.url <> p.feed_url
             ORDER BY u.recorded_at, u.url) AS previous_feed_urls,
       p.last_fetched_at, p.last_success_at, p.last_error_code, p.last_error, p.parse_warning,
       p.created_at, p.updated_at
FROM podcasts p
"""


async def get(conn: Conn, podcast_id: UUID) -> Podcast | None:
    async with conn.cursor(row_factory=class_row(Podcast)) as cur:
        await cur.execute(_SELECT + " WHERE p.id = %s", (podcast_id,))
        return await cur.fetchone()


async def list_page(
    conn: Conn, *, limit: int, after: Cursor | None, query: str | None, viewer: Viewer
) -> Page[Podcast]:
    """The podcasts ``viewer`` may see, newest first, optionally filtered by a title/author
    substring."""
    visible, params = visible_sql(viewer)
    where = [visible]
    if query:
        where.append("(p.title ILIKE %s OR p.author ILIKE %s)")
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params += [pattern, pattern]
    if after is not None:
        where.append("(p.created_at, p.id) < (%s, %s)")
        params += [after.at, after.id]
    sql = (
        _SELECT
        + " WHERE "
        + " AND ".join(where)
        + " ORDER BY p.created_at DESC, p.id DESC LIMIT %s"
    )
    params.append(limit + 1)
    async with conn.cursor(row_factory=class_row(Podcast)) as cur:
        await cur.execute(sql.encode(), params)
        rows = await cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = Cursor(rows[-1].created_at, rows[-1].id).encode() if more else None
    return Page(rows, nxt)


async def find_by_url(conn: Conn, url: str, *, public_only: bool = False) -> UUID | None:
    """The podcast a feed URL (or any past spelling or location of it) belongs to; with
    ``public_only``, None for a private one."""
    cur = await conn.execute(
        "SELECT u.podcast_id FROM podcast_feed_urls u JOIN podcasts p ON p.id = u.podcast_id"
        " WHERE u.url_key = %s AND NOT (p.private AND %s)",
        (url_key(url), public_only),
    )
    row = await cur.fetchone()
    return row[0] if row else None


async def find_by_apple_id(conn: Conn, apple_id: int, *, public_only: bool = False) -> UUID | None:
    cur = await conn.execute(
        "SELECT id FROM podcasts WHERE apple_id = %s AND NOT (private AND %s)",
        (apple_id, public_only),
    )
    row = await cur.fetchone()
    return row[0] if row else None


async def is_visible(conn: Conn, podcast_id: UUID, viewer: Viewer) -> bool:
    """Whether the podcast exists and ``viewer`` may see it."""
    visible, params = visible_sql(viewer)
    cur = await conn.execute(
        f"SELECT 1 FROM podcasts p WHERE p.id = %s AND {visible}".encode(), [podcast_id, *params]
    )
    return await cur.fetchone() is not None


async def hidden_from(conn: Conn, viewer: Viewer) -> list[UUID]:
    """The private podcasts ``viewer`` may not see (a small set: search leaves them out)."""
    visible, params = visible_sql(viewer)
    cur = await conn.execute(
        f"SELECT p.id FROM podcasts p WHERE p.private AND NOT {visible} ORDER BY p.id".encode(),
        params,
    )
    return [r[0] for r in await cur.fetchall()]


async def subscribes_privately(conn: Conn, user_id: UUID) -> bool:
    """Whether the user subscribes to any private podcast (else they see the public catalog)."""
    cur = await conn.execute(
        "SELECT 1 FROM subscriptions s JOIN podcasts p ON p.id = s.podcast_id"
        " WHERE s.user_id = %s AND p.private LIMIT 1",
        (user_id,),
    )
    return await cur.fetchone() is not None


async def mark_private(conn: Conn, podcast_id: UUID) -> None:
    """From now on only the podcast's subscribers see it (its URL turned out to carry
    credentials)."""
    await conn.execute(
        "UPDATE podcasts SET private = true, updated_at = now() WHERE id = %s AND NOT private",
        (podcast_id,),
    )


def _feed_columns(feed: ParsedFeed) -> dict[str, Any]:
    return {
        "title": feed.title,
        "author": feed.author,
        "description": feed.description,
        "description_html": feed.description_html,
        "link": feed.link,
        "image_url": feed.image_url,
        "language": feed.language,
        "categories": list(feed.categories),
        "explicit": feed.explicit,
        "parse_warning": "; ".join(feed.warnings) or None,
    }


async def insert(
    conn: Conn,
    *,
    feed_url: str,
    feed: ParsedFeed,
    apple_id: int | None,
    image_fallback: str | None,
    private: bool,
) -> UUID:
    cols = _feed_columns(feed)
    if not cols["image_url"]:
        cols["image_url"] = image_fallback
    cols.update(feed_url=feed_url, apple_id=apple_id, private=private)
    names = list(cols)
    sql = (
        f"INSERT INTO podcasts ({', '.join(names)}) "
        f"VALUES ({', '.join('%(' + n + ')s' for n in names)}) RETURNING id"
    )
    cur = await conn.execute(sql.encode(), cols)
    row = await cur.fetchone()
    assert row is not None
    podcast_id: UUID = row[0]
    return podcast_id


async def update_from_feed(conn: Conn, podcast_id: UUID, feed: ParsedFeed) -> bool:
    """Write what the feed says about the show; touch ``updated_at`` only if something changed."""
    cols = _feed_columns(feed)
    sets = ", ".join(f"{n} = %({n})s" for n in cols)
    changed = " OR ".join(f"{n} IS DISTINCT FROM %({n})s" for n in cols)
    sql = f"UPDATE podcasts SET {sets}, updated_at = now() WHERE id = %(id)s AND ({changed})"
    cur = await conn.execute(sql.encode(), {**cols, "id": podcast_id})
    return cur.rowcount > 0


async def claim_url(conn: Conn, podcast_id: UUID, url: str, reason: str) -> UUID:
    """Record that ``url`` leads to this podcast; return the podcast it really leads to.

    A concurrent transaction claiming the same URL makes this wait for it to finish, so of two
    simultaneous adds of one feed exactly one sees its own id come back.
    """
    cur = await conn.execute(
        "INSERT INTO podcast_feed_urls (url_key, url, podcast_id, reason) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (url_key) DO NOTHING RETURNING podcast_id",
        (url_key(url), url, podcast_id, reason),
    )
    row = await cur.fetchone()
    if row is None:
        cur = await conn.execute(
            "SELECT podcast_id FROM podcast_feed_urls WHERE url_key = %s", (url_key(url),)
        )
        row = await cur.fetchone()
    assert row is not None
    owner: UUID = row[0]
    return owner


async def add_url(conn: Conn, podcast_id: UUID, url: str, reason: str) -> None:
    """Remember that ``url`` leads to this podcast (first writer wins)."""
    await conn.execute(
        "INSERT INTO podcast_feed_urls (url_key, url, podcast_id, reason) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (url_key) DO NOTHING",
        (url_key(url), url, podcast_id, reason),
    )


async def move_feed(conn: Conn, podcast_id: UUID, new_url: str, reason: str) -> None:
    """Point the podcast at the feed's new home; the old URL stays known as an alias."""
    await add_url(conn, podcast_id, new_url, reason)
    await conn.execute(
        "UPDATE podcasts SET feed_url = %s, etag = NULL, last_modified = NULL, updated_at = now() "
        "WHERE id = %s AND feed_url <> %s",
        (new_url, podcast_id, new_url),
    )


async def fetch_state(conn: Conn, podcast_id: UUID, *, lock: bool = False) -> dict[str, Any] | None:
    """What a refresh needs to know; with ``lock``, the row stays locked until the transaction
    ends so that concurrent refreshes of one feed write one after the other."""
    sql = (
        "SELECT id, feed_url, private, etag, last_modified, body_sha256 FROM podcasts WHERE id = %s"
    )
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute((sql + (" FOR UPDATE" if lock else "")).encode(), (podcast_id,))
        return await cur.fetchone()


async def record_success(
    conn: Conn,
    podcast_id: UUID,
    *,
    etag: str | None,
    last_modified: str | None,
    body_sha256: str | None,
    at: datetime,
) -> None:
    await conn.execute(
        "UPDATE podcasts SET etag = coalesce(%s, etag),"
        " last_modified = coalesce(%s, last_modified), body_sha256 = coalesce(%s, body_sha256),"
        " last_fetched_at = %s, last_success_at = %s,"
        " last_error_code = NULL, last_error = NULL, consecutive_failures = 0 WHERE id = %s",
        (etag, last_modified, body_sha256, at, at, podcast_id),
    )


async def record_failure(
    conn: Conn, podcast_id: UUID, *, code: str, message: str, at: datetime
) -> None:
    await conn.execute(
        "UPDATE podcasts SET last_fetched_at = %s, last_error_code = %s, last_error = %s,"
        " consecutive_failures = consecutive_failures + 1 WHERE id = %s",
        (at, code, message[:1000], podcast_id),
    )


async def refresh_targets(conn: Conn) -> list[UUID]:
    """Every podcast, least recently fetched first."""
    cur = await conn.execute("SELECT id FROM podcasts ORDER BY last_fetched_at ASC NULLS FIRST, id")
    return [r[0] for r in await cur.fetchall()]


async def all_for_export(conn: Conn, viewer: Viewer) -> list[Podcast]:
    """Every podcast ``viewer`` may see, by title."""
    visible, params = visible_sql(viewer)
    async with conn.cursor(row_factory=class_row(Podcast)) as cur:
        sql = f"{_SELECT} WHERE {visible} ORDER BY lower(p.title), p.id"
        await cur.execute(sql.encode(), params)
        return await cur.fetchall()
