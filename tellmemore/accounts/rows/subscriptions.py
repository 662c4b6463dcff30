"""A user's subscriptions to catalog podcasts; every query is scoped by user id."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row

from tellmemore.accounts.types import Subscription

Conn = AsyncConnection[Any]


async def add(conn: Conn, user_id: UUID, podcast_id: UUID) -> bool:
    """Subscribe; False when the subscription already existed."""
    cur = await conn.execute(
        "INSERT INTO subscriptions (user_id, podcast_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (user_id, podcast_id),
    )
    return cur.rowcount > 0


async def remove(conn: Conn, user_id: UUID, podcast_id: UUID) -> bool:
    cur = await conn.execute(
        "DELETE FROM subscriptions WHERE user_id = %s AND podcast_id = %s", (user_id, podcast_id)
    )
    return cur.rowcount > 0


async def list_for(conn: Conn, user_id: UUID) -> list[Subscription]:
    async with conn.cursor(row_factory=class_row(Subscription)) as cur:
        await cur.execute(
            "SELECT s.podcast_id, p.title, p.feed_url, p.image_url, s.created_at "
            "FROM subscriptions s JOIN podcasts p ON p.id = s.podcast_id "
            "WHERE s.user_id = %s ORDER BY s.created_at DESC, p.title",
            (user_id,),
        )
        return await cur.fetchall()
