"""Episode rows as processing sees them: the work item, its progress, and its outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from tellmemore.processing import outcomes

Conn = AsyncConnection[Any]


@dataclass(frozen=True)
class WorkItem:
    """What processing needs to know about one episode."""

    episode_id: UUID
    podcast_id: UUID
    title: str
    podcast_title: str
    published_at: datetime | None
    enclosure_url: str | None
    enclosure_type: str | None
    transcripts: list[dict[str, Any]]
    language: str | None
    chapters_url: str | None = None


@dataclass(frozen=True)
class Outputs:
    """What a finished episode records: where its transcript is and which models made what."""

    transcript_key: str
    transcript_source: str  # "publisher" or "asr"
    transcript_model: str
    segmenter_model: str
    llm_model: str
    embedding_model: str
    segment_count: int
    audio_duration_s: float | None
    summary: dict[str, Any]
    # The publisher's chapters as fetched ([] when the feed offers none); None leaves the
    # stored ones (the document was unreachable this time).
    publisher_chapters: list[dict[str, Any]] | None = None


async def work_item(conn: Conn, episode_id: UUID) -> WorkItem | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT e.id AS episode_id, e.podcast_id, e.title, p.title AS podcast_title, "
            "e.published_at, e.enclosure_url, e.enclosure_type, e.transcripts, p.language, "
            "e.chapters_url "
            "FROM episodes e JOIN podcasts p ON p.id = e.podcast_id WHERE e.id = %s",
            (episode_id,),
        )
        row = await cur.fetchone()
    return WorkItem(**row) if row else None


async def started(conn: Conn, episode_id: UUID, attempts: int) -> None:
    await conn.execute(
        "UPDATE episodes SET status = 'processing', processing_step = 'starting', "
        "processing_progress = NULL, attempts = %s, updated_at = now() WHERE id = %s",
        (attempts, episode_id),
    )


async def step(conn: Conn, episode_id: UUID, name: str) -> None:
    await conn.execute(
        "UPDATE episodes SET processing_step = %s, processing_progress = NULL, "
        "updated_at = now() WHERE id = %s",
        (name, episode_id),
    )


async def progress(
    conn: Conn, episode_id: UUID, step: str, *, done: int, total: int | None, unit: str
) -> None:
    """How far step ``step`` is; written only while the episode is still in that step (a late
    write from a step that ended must not come back). ``updated_at`` is left alone: this is
    not a change to the episode."""
    await conn.execute(
        "UPDATE episodes SET processing_progress = %s WHERE id = %s AND processing_step = %s "
        "AND status = 'processing'",
        (Jsonb({"done": done, "total": total, "unit": unit}), episode_id, step),
    )


async def done(conn: Conn, episode_id: UUID, out: Outputs) -> None:
    await conn.execute(
        "UPDATE episodes SET status = 'done', processing_step = NULL, "
        "processing_progress = NULL, error_code = NULL, "
        "error_message = NULL, processed_at = now(), updated_at = now(), transcript_key = %s, "
        "transcript_source = %s, transcript_model = %s, segmenter_model = %s, llm_model = %s, "
        "embedding_model = %s, segment_count = %s, audio_duration_s = %s, summary = %s, "
        "publisher_chapters = COALESCE(%s, publisher_chapters) WHERE id = %s",
        (
            out.transcript_key,
            out.transcript_source,
            out.transcript_model,
            out.segmenter_model,
            out.llm_model,
            out.embedding_model,
            out.segment_count,
            out.audio_duration_s,
            Jsonb(out.summary),
            None if out.publisher_chapters is None else Jsonb(out.publisher_chapters),
            episode_id,
        ),
    )


async def failed(conn: Conn, episode_id: UUID, *, code: str, message: str, final: bool) -> None:
    """Record a failed attempt: back to ``queued``, or after the last one ``failed`` (``done``
    again for an episode with outputs: :mod:`tellmemore.processing.outcomes`)."""
    await outcomes.online_failed(conn, episode_id, code=code, message=message, final=final)


async def requeued(conn: Conn, episode_id: UUID) -> None:
    """The job was handed back unfinished: the episode waits in the queue again."""
    await conn.execute(
        "UPDATE episodes SET status = 'queued', processing_step = NULL, "
        "processing_progress = NULL, updated_at = now() WHERE id = %s AND status = 'processing'",
        (episode_id,),
    )
