"""API keys: every query but the lookup by prefix is scoped by the owner's user id."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from tellmemore.accounts.types import ApiKey

Conn = AsyncConnection[Any]

_KEY = "id, name, prefix, scopes, created_at, last_used_at, expires_at, revoked_at"


def _key(row: dict[str, Any]) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        scopes=tuple(row["scopes"]),
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )


async def insert(
    conn: Conn,
    *,
    user_id: UUID,
    name: str,
    prefix: str,
    digest: bytes,
    scopes: list[str],
    created_at: datetime,
    expires_at: datetime | None,
) -> ApiKey:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "INSERT INTO api_keys (user_id, name, prefix, key_sha256, scopes, created_at,"
            f" expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_KEY}".encode(),
            (user_id, name, prefix, digest, scopes, created_at, expires_at),
        )
        row = await cur.fetchone()
    assert row is not None
    return _key(row)


async def count_usable(conn: Conn, user_id: UUID, now: datetime) -> int:
    cur = await conn.execute(
        "SELECT count(*) FROM api_keys WHERE user_id = %s AND revoked_at IS NULL"
        " AND (expires_at IS NULL OR expires_at > %s)",
        (user_id, now),
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def list_for(conn: Conn, user_id: UUID, *, include_revoked: bool = False) -> list[ApiKey]:
    revoked = "" if include_revoked else " AND revoked_at IS NULL"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_KEY} FROM api_keys WHERE user_id = %s{revoked}"
            " ORDER BY created_at DESC, id".encode(),
            (user_id,),
        )
        return [_key(row) for row in await cur.fetchall()]


async def by_prefix(conn: Conn, prefix: str) -> tuple[UUID, bytes, ApiKey] | None:
    """(owner, stored digest, key) for a presented key's public part."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT user_id, key_sha256, {_KEY} FROM api_keys WHERE prefix = %s".encode(),
            (prefix,),
        )
        row = await cur.fetchone()
    return (row["user_id"], bytes(row["key_sha256"]), _key(row)) if row else None


async def touch(conn: Conn, key_id: UUID, now: datetime, every_s: float) -> None:
    """Record a use, at most once per ``every_s`` (a write per request would be a hot row)."""
    await conn.execute(
        "UPDATE api_keys SET last_used_at = %s WHERE id = %s"
        " AND (last_used_at IS NULL OR last_used_at < %s - make_interval(secs => %s))",
        (now, key_id, now, every_s),
    )


async def revoke(conn: Conn, user_id: UUID, key_id: UUID, now: datetime) -> bool:
    cur = await conn.execute(
        "UPDATE api_keys SET revoked_at = %s WHERE id = %s AND user_id = %s AND revoked_at IS NULL",
        (now, key_id, user_id),
    )
    return cur.rowcount > 0
