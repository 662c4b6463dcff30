"""Which episodes a batch run works on: a filter over the catalog in PostgreSQL.

ML engineers pick a backlog by podcast, publication dates, processing status and "made by a
model other than X" (re-transcribe everything Whisper tiny produced, re-embed what an older
embedder made). The answer is a stable, ordered list of episode references (oldest first, ties
by id) so a rerun sees the same order and a ``limit`` takes the same head.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from psycopg import AsyncConnection, sql

Status = Literal["new", "queued", "processing", "done", "failed"]
ModelKind = Literal["transcript", "segmenter", "llm", "embedding"]
_MODEL_COLUMNS: dict[str, str] = {
    "transcript": "transcript_model",
    "segmenter": "segmenter_model",
    "llm": "llm_model",
    "embedding": "embedding_model",
}


@dataclass(frozen=True)
class Selection:
    podcast_ids: tuple[UUID, ...] = ()
    episode_ids: tuple[UUID, ...] = ()
    published_after: datetime | None = None  # inclusive, timezone-aware
    published_before: datetime | None = None  # exclusive
    statuses: tuple[Status, ...] = ()
    # kind -> model id: only episodes whose output of that kind was made by another model
    # (or never made), e.g. {"embedding": "embedding:all-MiniLM-L6-v2@9a27..."}
    not_made_by: tuple[tuple[ModelKind, str], ...] = ()
    limit: int | None = None

    def _checked(self) -> Selection:
        """Itself, after checking values that typing cannot (statuses from a command line)."""
        known = {"new", "queued", "processing", "done", "failed"}
        unknown = sorted(set(self.statuses) - known)
        if unknown:
            raise ValueError(f"Unknown status(es) {unknown}; one of {sorted(known)}.")
        return self

    def __post_init__(self) -> None:
        for moment in (self.published_after, self.published_before):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("Publication bounds must be timezone-aware.")
        if self.limit is not None and self.limit < 1:
            raise ValueError("limit must be at least 1.")
        for kind, _ in self.not_made_by:
            if kind not in _MODEL_COLUMNS:
                raise ValueError(f"Unknown model kind {kind!r}; one of {sorted(_MODEL_COLUMNS)}.")


@dataclass(frozen=True)
class EpisodeRef:
    episode_id: UUID
    podcast_id: UUID
    title: str
    published_at: datetime | None
    status: str


def selection_query(selection: Selection) -> tuple[sql.Composed, list[Any]]:
    """The SELECT for ``selection`` and its parameters (every value bound, never pasted)."""
    where: list[sql.Composable] = []
    params: list[Any] = []
    if selection.podcast_ids:
        where.append(sql.SQL("podcast_id = ANY(%s)"))
        params.append(list(selection.podcast_ids))
    if selection.episode_ids:
        where.append(sql.SQL("id = ANY(%s)"))
        params.append(list(selection.episode_ids))
    if selection.published_after is not None:
        where.append(sql.SQL("published_at >= %s"))
        params.append(selection.published_after)
    if selection.published_before is not None:
        where.append(sql.SQL("published_at < %s"))
        params.append(selection.published_before)
    if selection.statuses:
        where.append(sql.SQL("status = ANY(%s)"))
        params.append(list(selection.statuses))
    for kind, model_id in selection.not_made_by:
        where.append(sql.SQL("{} IS DISTINCT FROM %s").format(sql.Identifier(_MODEL_COLUMNS[kind])))
        params.append(model_id)
    query = sql.SQL(
        "SELECT id, podcast_id, title, published_at, status FROM episodes{where}"
        " ORDER BY sort_at, id{limit}"
    ).format(
        where=sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL(""),
        limit=sql.SQL(" LIMIT %s") if selection.limit is not None else sql.SQL(""),
    )
    if selection.limit is not None:
        params.append(selection.limit)
    return query, params


async def select_episodes(conn: AsyncConnection[Any], selection: Selection) -> list[EpisodeRef]:
    query, params = selection_query(selection)
    cur = await conn.execute(query, params)
    return [EpisodeRef(*row) for row in await cur.fetchall()]
