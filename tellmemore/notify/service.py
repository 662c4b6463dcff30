"""The topic-playlist digest: one email per opted-in owner listing what their topic playlists
grew by since the last one.

The items the refresher added carry no ``notified_at`` until a digest has reported them, so a
failed send is retried on the next run and nothing is reported twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from tellmemore.clock import Clock
from tellmemore.notify.base import EmailError, EmailSender
from tellmemore.notify.render import DigestEntry, DigestItem, render_digest
from tellmemore.settings import EmailSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DigestReport:
    sent: int
    failed: int
    items: int


class Digests:
    """Sends the digests due now (``tmm digests send``, and the processor's upkeep loop)."""

    def __init__(self, pool: AsyncConnectionPool, clock: Clock) -> None:
        self._pool = pool
        self._clock = clock

    async def send(
        self,
        sender: EmailSender,
        settings: EmailSettings,
        *,
        min_interval: timedelta = timedelta(hours=24),
    ) -> DigestReport:
        """One email per opted-in owner with unreported topic additions, at most one per
        ``min_interval``; items are marked reported only once their email was accepted."""
        now = self._clock()
        async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT u.id AS user_id, u.email, u.display_name, p.id AS playlist_id,"
                " p.title AS playlist_title, i.id AS item_id, i.start_s, i.end_s, i.reason,"
                " e.title AS episode_title, pc.title AS podcast_title"
                " FROM users u JOIN playlists p ON p.owner_id = u.id"
                " JOIN playlist_items i ON i.playlist_id = p.id"
                " JOIN episodes e ON e.id = i.episode_id JOIN podcasts pc ON pc.id = e.podcast_id"
                " WHERE u.email_digest AND p.kind = 'topic' AND i.added_by = 'topic'"
                " AND i.notified_at IS NULL"
                " AND (u.digest_sent_at IS NULL OR u.digest_sent_at <= %s)"
                " ORDER BY u.id, p.title, p.id, i.position",
                (now - min_interval,),
            )
            rows = await cur.fetchall()
        by_user: dict[UUID, list[dict[str, Any]]] = {}
        for row in rows:
            by_user.setdefault(row["user_id"], []).append(row)
        sent = failed = items = 0
        for user_id, user_rows in by_user.items():
            entries: dict[UUID, list[dict[str, Any]]] = {}
            for row in user_rows:
                entries.setdefault(row["playlist_id"], []).append(row)
            digest = [
                DigestEntry(
                    playlist_id=pid,
                    playlist_title=group[0]["playlist_title"],
                    items=[
                        DigestItem(
                            podcast_title=r["podcast_title"],
                            episode_title=r["episode_title"],
                            start_s=r["start_s"] or 0.0,
                            end_s=r["end_s"] or 0.0,
                            reason=r["reason"] or "",
                        )
                        for r in group
                    ],
                )
                for pid, group in entries.items()
            ]
            first = user_rows[0]
            message = render_digest(
                settings, to=first["email"], display_name=first["display_name"], entries=digest
            )
            try:
                await sender.send(message)
            except EmailError as exc:
                failed += 1
                log.warning("digest to user %s not sent (%s): %s", user_id, exc.code, exc)
                continue
            item_ids = [r["item_id"] for r in user_rows]
            async with self._pool.connection() as conn, conn.transaction():
                await conn.execute(
                    "UPDATE playlist_items SET notified_at = %s WHERE id = ANY(%s)",
                    (now, item_ids),
                )
                await conn.execute(
                    "UPDATE users SET digest_sent_at = %s WHERE id = %s", (now, user_id)
                )
            sent += 1
            items += len(item_ids)
        return DigestReport(sent, failed, items)


__all__ = ["DigestReport", "Digests"]
