"""What each user has heard: one row per report, merged into ranges when read. Every query is
scoped by the user's own id."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row

from tellmemore.storage import Cursor, Page

Conn = AsyncConnection[Any]
Range = tuple[float, float]
# What a report without times (the whole episode) covers, whatever the episode's length.
WHOLE_EPISODE: Range = (0.0, math.inf)


@dataclass(frozen=True)
class HistoryEntry:
    """One report: a whole episode heard (no times), or a time range of it."""

    id: UUID
    episode_id: UUID
    start_s: float | None
    end_s: float | None
    heard_at: datetime
    episode_title: str
    podcast_id: UUID
    podcast_title: str


_ENTRY = (
    "SELECT h.id, h.episode_id, h.start_s, h.end_s, h.heard_at, e.title AS episode_title,"
    " e.podcast_id, p.title AS podcast_title FROM listening_history h"
    " JOIN episodes e ON e.id = h.episode_id JOIN podcasts p ON p.id = e.podcast_id"
)


async def add(
    conn: Conn, user_id: UUID, episode_id: UUID, start_s: float | None, end_s: float | None
) -> HistoryEntry:
    cur = await conn.execute(
        "INSERT INTO listening_history (user_id, episode_id, start_s, end_s) "
        "VALUES (%s, %s, %s, %s) RETURNING id",
        (user_id, episode_id, start_s, end_s),
    )
    row = await cur.fetchone()
    assert row is not None
    async with conn.cursor(row_factory=class_row(HistoryEntry)) as entries:
        await entries.execute((_ENTRY + " WHERE h.id = %s").encode(), (row[0],))
        entry = await entries.fetchone()
    assert entry is not None
    return entry


async def list_page(
    conn: Conn, user_id: UUID, *, limit: int, after: Cursor | None
) -> Page[HistoryEntry]:
    """The user's reports, most recent first."""
    where = "h.user_id = %s"
    params: list[Any] = [user_id]
    if after is not None:
        where += " AND (h.heard_at, h.id) < (%s, %s)"
        params += [after.at, after.id]
    async with conn.cursor(row_factory=class_row(HistoryEntry)) as cur:
        await cur.execute(
            f"{_ENTRY} WHERE {where} ORDER BY h.heard_at DESC, h.id DESC LIMIT %s".encode(),
            [*params, limit + 1],
        )
        rows = await cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = Cursor(rows[-1].heard_at, rows[-1].id).encode() if more and rows else None
    return Page(rows, nxt)


def merge_ranges(ranges: Iterable[Range]) -> list[Range]:
    """Overlapping or touching ranges joined, in order."""
    merged: list[Range] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


async def heard_ranges(
    conn: Conn, user_id: UUID, episode_ids: Collection[UUID]
) -> dict[UUID, list[Range]]:
    """What the user heard of each of these episodes, merged; a whole-episode report is
    :data:`WHOLE_EPISODE`. Episodes with nothing heard are absent."""
    if not episode_ids:
        return {}
    cur = await conn.execute(
        "SELECT episode_id, start_s, end_s FROM listening_history "
        "WHERE user_id = %s AND episode_id = ANY(%s)",
        (user_id, list(episode_ids)),
    )
    found: defaultdict[UUID, list[Range]] = defaultdict(list)
    for episode_id, start, end in await cur.fetchall():
        found[episode_id].append((start, end) if start is not None else WHOLE_EPISODE)
    return {episode_id: merge_ranges(heard) for episode_id, heard in found.items()}


async def clear(conn: Conn, user_id: UUID) -> int:
    cur = await conn.execute("DELETE FROM listening_history WHERE user_id = %s", (user_id,))
    return cur.rowcount
