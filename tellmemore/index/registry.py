"""The ``search_indexes`` registry: which LanceDB table pairs exist, which one readers use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from models.settings import EmbedderSettings
from tellmemore.index.spaces import SearchIndex

Conn = AsyncConnection[Any]


@dataclass(frozen=True)
class IndexRecord:
    index: SearchIndex
    embedding_model: str | None
    state: str  # building | ready
    active: bool
    created_at: datetime
    ready_at: datetime | None
    activated_at: datetime | None


_COLUMNS = (
    "name, segments_table, summaries_table, embedder, embedding_model, state, active, "
    "created_at, ready_at, activated_at"
)


def _record(row: dict[str, Any]) -> IndexRecord:
    return IndexRecord(
        index=SearchIndex(
            row["name"],
            row["segments_table"],
            row["summaries_table"],
            EmbedderSettings(**row["embedder"]),
        ),
        embedding_model=row["embedding_model"],
        state=row["state"],
        active=row["active"],
        created_at=row["created_at"],
        ready_at=row["ready_at"],
        activated_at=row["activated_at"],
    )


async def register(conn: Conn, index: SearchIndex, embedding_model: str | None) -> None:
    """Record the index (building) unless it is known; remember which model wrote it."""
    embedder = index.embedder.model_dump(include={"model", "query_prefix", "passage_prefix"})
    await conn.execute(
        "INSERT INTO search_indexes (name, segments_table, summaries_table, embedder, "
        "embedding_model) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET "
        "embedding_model = coalesce(EXCLUDED.embedding_model, search_indexes.embedding_model)",
        (index.name, index.segments_table, index.summaries_table, Jsonb(embedder),
         embedding_model),
    )  # fmt: skip


async def claim_if_none_active(conn: Conn, index: SearchIndex, embedding_model: str | None) -> bool:
    """Make ``index`` the active one when no index is active yet (a fresh system's first
    writer); True if ``index`` is active afterwards."""
    async with conn.transaction():
        await register(conn, index, embedding_model)
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SWITCH_LOCK,))
        cur = await conn.execute("SELECT name FROM search_indexes WHERE active")
        row = await cur.fetchone()
        if row is None:
            await _activate(conn, index.name)
            return True
        return bool(row[0] == index.name)


async def activate(conn: Conn, name: str) -> IndexRecord:
    """Flip readers to ``name`` (marking it ready), in one transaction; returns its record."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SWITCH_LOCK,))
        found = await get(conn, name)
        if found is None:
            raise LookupError(name)
        await _activate(conn, name)
    record = await get(conn, name)
    assert record is not None
    return record


async def _activate(conn: Conn, name: str) -> None:
    await conn.execute(
        "UPDATE search_indexes SET active = false WHERE active AND name <> %s", (name,)
    )
    await conn.execute(
        "UPDATE search_indexes SET state = 'ready', ready_at = coalesce(ready_at, now()), "
        "active = true, activated_at = now() WHERE name = %s AND NOT active",
        (name,),
    )


async def still_active(conn: Conn, name: str) -> bool:
    """Whether ``name`` is the active index (or none is recorded), asked inside the caller's
    transaction, which then holds switch-overs off until it ends.

    A writer that wrote an episode into ``name`` commits its outcome in that transaction only
    if this says yes: a shared lock on the switch, so :func:`activate` waits for such commits
    in flight and a commit after a switch sees it. Every episode committed as written into an
    index that lost the switch was therefore committed before the switch: the switch's caller
    finds it afterwards, and a writer told no writes the episode again into the new index."""
    await conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (_SWITCH_LOCK,))
    cur = await conn.execute("SELECT name FROM search_indexes WHERE active")
    row = await cur.fetchone()
    return row is None or bool(row[0] == name)


async def get(conn: Conn, name: str) -> IndexRecord | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM search_indexes WHERE name = %s", (name,))
        row = await cur.fetchone()
    return _record(row) if row else None


async def active(conn: Conn) -> SearchIndex | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM search_indexes WHERE active")
        row = await cur.fetchone()
    return _record(row).index if row else None


async def all_indexes(conn: Conn) -> list[IndexRecord]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM search_indexes ORDER BY created_at, name")
        return [_record(r) for r in await cur.fetchall()]


# Switch-overs are serialized; any constant shared by all processes ("tmm-idx").
_SWITCH_LOCK = 0x746D6D2D696478
