"""Episode rows: the idempotent upsert from a parsed feed, and reads with keyset paging."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from tellmemore.catalog.types import Episode, ParsedEpisode
from tellmemore.storage import Cursor, Page

Conn = AsyncConnection[Any]

_COLUMNS = (
    "id, podcast_id, guid, title, description, description_html, link, published_at,"
    " published_raw, duration_s, duration_raw, enclosure_url, enclosure_type, enclosure_length,"
    " image_url, season, episode_number, episode_type, explicit, chapters_url, chapters_type,"
    " transcripts, status, created_at, updated_at, processing_step, processing_progress,"
    " error_code, error_message,"
    " processed_at, transcript_source, transcript_key, transcript_model, segmenter_model,"
    " llm_model, embedding_model, segment_count, audio_duration_s, summary, publisher_chapters"
)

_WRITE_FIELDS = (
    "identity_key", "guid", "enclosure_key", "title", "description", "description_html", "link",
    "published_at", "published_raw", "duration_s", "duration_raw", "enclosure_url",
    "enclosure_type", "enclosure_length", "image_url", "season", "episode_number",
    "episode_type", "explicit", "chapters_url", "chapters_type", "transcripts", "content_sha256",
)  # fmt: skip


@dataclass(frozen=True)
class UpsertCounts:
    added: int
    updated: int
    unchanged: int
    new_ids: tuple[UUID, ...]


def _values(ep: ParsedEpisode) -> dict[str, Any]:
    return {
        "identity_key": ep.identity_key,
        "guid": ep.guid,
        "enclosure_key": ep.enclosure_key,
        "title": ep.title,
        "description": ep.description,
        "description_html": ep.description_html,
        "link": ep.link,
        "published_at": ep.published_at,
        "published_raw": ep.published_raw,
        "duration_s": ep.duration_s,
        "duration_raw": ep.duration_raw,
        "enclosure_url": ep.enclosure_url,
        "enclosure_type": ep.enclosure_type,
        "enclosure_length": ep.enclosure_length,
        "image_url": ep.image_url,
        "season": ep.season,
        "episode_number": ep.episode_number,
        "episode_type": ep.episode_type,
        "explicit": ep.explicit,
        "chapters_url": ep.chapters.url if ep.chapters else None,
        "chapters_type": ep.chapters.type if ep.chapters else None,
        "transcripts": Jsonb(
            [
                {"url": t.url, "type": t.type, "language": t.language, "rel": t.rel}
                for t in ep.transcripts
            ]
        ),
        "content_sha256": ep.content_hash,
    }


async def upsert(conn: Conn, podcast_id: UUID, episodes: tuple[ParsedEpisode, ...]) -> UpsertCounts:
    """Merge a feed's items into the catalog; the caller holds the podcast's row lock.

    An item matches a stored episode by identity key, or else by enclosure identity (a feed that
    later adds, changes or duplicates guids keeps its episodes). Unchanged items are not written,
    so re-ingesting a feed changes nothing; episodes that left the feed are kept.
    """
    cur = await conn.execute(
        "SELECT id, identity_key, enclosure_key, content_sha256 FROM episodes "
        "WHERE podcast_id = %s",
        (podcast_id,),
    )
    by_identity: dict[str, tuple[UUID, str]] = {}
    by_enclosure: dict[str, tuple[UUID, str]] = {}
    for row_id, identity, enclosure, digest in await cur.fetchall():
        by_identity[identity] = (row_id, digest)
        if enclosure:
            by_enclosure.setdefault(enclosure, (row_id, digest))

    # Identity matches win over enclosure matches, so pair them first.
    assigned: dict[int, tuple[UUID, str]] = {}
    matched: set[UUID] = set()
    for index, ep in enumerate(episodes):
        hit = by_identity.get(ep.identity_key)
        if hit is not None:
            assigned[index] = hit
            matched.add(hit[0])
    for index, ep in enumerate(episodes):
        if index in assigned or not ep.enclosure_key:
            continue
        hit = by_enclosure.get(ep.enclosure_key)
        if hit is not None and hit[0] not in matched:
            assigned[index] = hit
            matched.add(hit[0])

    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    unchanged = 0
    for index, ep in enumerate(episodes):
        hit = assigned.get(index)
        if hit is None:
            values = {**_values(ep), "podcast_id": podcast_id}
            if ep.identity_key in by_identity:  # the key is another stored episode's
                values["identity_key"] = f"{ep.identity_key}#{ep.content_hash[:12]}"
            inserts.append(values)
        elif hit[1] == ep.content_hash:
            unchanged += 1
        else:
            values = _values(ep)
            del values["identity_key"]  # identity is fixed at first sight
            updates.append({**values, "id": hit[0]})

    new_ids: list[UUID] = []
    if inserts:
        names = ["podcast_id", *_WRITE_FIELDS]
        sql = (
            f"INSERT INTO episodes ({', '.join(names)}) "
            f"VALUES ({', '.join('%(' + n + ')s' for n in names)}) RETURNING id"
        )
        async with conn.cursor() as ins:
            await ins.executemany(sql.encode(), inserts, returning=True)
            while True:
                row = await ins.fetchone()
                if row:
                    new_ids.append(row[0])
                if not ins.nextset():
                    break
    if updates:
        fields = [f for f in _WRITE_FIELDS if f != "identity_key"]
        sets = ", ".join(f"{f} = %({f})s" for f in fields)
        async with conn.cursor() as upd:
            await upd.executemany(
                f"UPDATE episodes SET {sets}, updated_at = now() WHERE id = %(id)s".encode(),
                updates,
            )
    return UpsertCounts(len(inserts), len(updates), unchanged, tuple(new_ids))


async def get(conn: Conn, episode_id: UUID) -> Episode | None:
    async with conn.cursor(row_factory=class_row(Episode)) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM episodes WHERE id = %s".encode(), (episode_id,))
        return await cur.fetchone()


async def list_page(
    conn: Conn,
    podcast_id: UUID,
    *,
    limit: int,
    after: Cursor | None,
    published_since: datetime | None,
    published_until: datetime | None,
) -> Page[Episode]:
    """A podcast's episodes newest first (undated ones by when we first saw them)."""
    where = ["podcast_id = %s"]
    params: list[Any] = [podcast_id]
    if published_since is not None:
        where.append("published_at >= %s")
        params.append(published_since)
    if published_until is not None:
        where.append("published_at < %s")
        params.append(published_until)
    if after is not None:
        where.append("(sort_at, id) < (%s, %s)")
        params += [after.at, after.id]
    sql = (
        f"SELECT {_COLUMNS}, sort_at FROM episodes WHERE {' AND '.join(where)} "
        "ORDER BY sort_at DESC, id DESC LIMIT %s"
    )
    params.append(limit + 1)
    async with conn.cursor() as cur:
        await cur.execute(sql.encode(), params)
        names = [d.name for d in cur.description or []]
        rows = [dict(zip(names, r, strict=True)) for r in await cur.fetchall()]
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = Cursor(rows[-1]["sort_at"], rows[-1]["id"]).encode() if more and rows else None
    items = [Episode(**{k: v for k, v in r.items() if k != "sort_at"}) for r in rows]
    return Page(items, nxt)


async def enclosures(conn: Conn, episode_ids: list[UUID]) -> dict[UUID, str]:
    """Episode id → enclosure URL, for the episodes that have one."""
    if not episode_ids:
        return {}
    cur = await conn.execute(
        "SELECT id, enclosure_url FROM episodes WHERE id = ANY(%s) AND enclosure_url IS NOT NULL",
        (episode_ids,),
    )
    return {row[0]: row[1] for row in await cur.fetchall()}
