"""Users, their token families (sessions) and refresh tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row, dict_row

from tellmemore.accounts.types import Session, User

Conn = AsyncConnection[Any]

_USER = (
    "id, email, display_name, password_changed_at, created_at, updated_at, is_admin, "
    "email_verified_at"
)
_SESSION = "id, user_agent, created_at, last_used_at, revoked_at, revoked_reason"


def email_key(email: str) -> str:
    return email.strip().lower()


async def insert(conn: Conn, *, email: str, password_hash: str, display_name: str | None) -> User:
    async with conn.cursor(row_factory=class_row(User)) as cur:
        await cur.execute(
            f"INSERT INTO users (email, email_key, password_hash, display_name) "
            f"VALUES (%s, %s, %s, %s) RETURNING {_USER}".encode(),
            (email.strip(), email_key(email), password_hash, display_name),
        )
        user = await cur.fetchone()
    assert user is not None
    return user


async def get(conn: Conn, user_id: UUID) -> User | None:
    async with conn.cursor(row_factory=class_row(User)) as cur:
        await cur.execute(f"SELECT {_USER} FROM users WHERE id = %s".encode(), (user_id,))
        return await cur.fetchone()


async def credentials(conn: Conn, email: str) -> tuple[UUID, str] | None:
    """(user id, password hash) for a login attempt."""
    cur = await conn.execute(
        "SELECT id, password_hash FROM users WHERE email_key = %s", (email_key(email),)
    )
    row = await cur.fetchone()
    return (row[0], row[1]) if row else None


async def password_hash(conn: Conn, user_id: UUID) -> str | None:
    cur = await conn.execute("SELECT password_hash FROM users WHERE id = %s", (user_id,))
    row = await cur.fetchone()
    return row[0] if row else None


async def update_profile(
    conn: Conn, user_id: UUID, *, email: str | None, display_name: str | None, clear_name: bool
) -> User | None:
    sets = ["updated_at = now()"]
    params: list[Any] = []
    if email is not None:
        # A new address is unverified until its own link is followed.
        sets += ["email = %s", "email_key = %s", "email_verified_at = NULL"]
        params += [email.strip(), email_key(email)]
    if display_name is not None or clear_name:
        sets.append("display_name = %s")
        params.append(display_name)
    params.append(user_id)
    async with conn.cursor(row_factory=class_row(User)) as cur:
        await cur.execute(
            f"UPDATE users SET {', '.join(sets)} WHERE id = %s RETURNING {_USER}".encode(), params
        )
        return await cur.fetchone()


async def mark_email_verified(conn: Conn, user_id: UUID, email: str) -> bool:
    """Verify the account's email if it is still ``email`` (a link mailed to an address the
    user has since changed verifies nothing); True when the account is verified now."""
    cur = await conn.execute(
        "UPDATE users SET email_verified_at = coalesce(email_verified_at, now()) "
        "WHERE id = %s AND email_key = %s RETURNING id",
        (user_id, email_key(email)),
    )
    return await cur.fetchone() is not None


async def set_password(conn: Conn, user_id: UUID, password_hash: str) -> None:
    await conn.execute(
        "UPDATE users SET password_hash = %s, password_changed_at = now(), updated_at = now() "
        "WHERE id = %s",
        (password_hash, user_id),
    )


async def delete(conn: Conn, user_id: UUID) -> bool:
    """Remove the account; its sessions, tokens and subscriptions go with it (cascades)."""
    cur = await conn.execute("DELETE FROM users WHERE id = %s", (user_id,))
    return cur.rowcount > 0


# ---- sessions (token families) and refresh tokens ----------------------------------------


async def new_family(conn: Conn, user_id: UUID, user_agent: str | None, at: datetime) -> UUID:
    cur = await conn.execute(
        "INSERT INTO token_families (user_id, user_agent, created_at, last_used_at) "
        "VALUES (%s, %s, %s, %s) RETURNING id",
        (user_id, (user_agent or "")[:200] or None, at, at),
    )
    row = await cur.fetchone()
    assert row is not None
    family_id: UUID = row[0]
    return family_id


async def add_refresh_token(
    conn: Conn, family_id: UUID, digest: bytes, issued_at: datetime, expires_at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO refresh_tokens (token_sha256, family_id, issued_at, expires_at) "
        "VALUES (%s, %s, %s, %s)",
        (digest, family_id, issued_at, expires_at),
    )


async def lock_refresh_token(conn: Conn, digest: bytes) -> dict[str, Any] | None:
    """The token with its family, locked so two concurrent refreshes cannot both rotate it."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT t.family_id, t.expires_at, t.rotated_at, f.user_id, f.revoked_at "
            "FROM refresh_tokens t JOIN token_families f ON f.id = t.family_id "
            "WHERE t.token_sha256 = %s FOR UPDATE OF t, f",
            (digest,),
        )
        return await cur.fetchone()


async def mark_rotated(conn: Conn, digest: bytes, family_id: UUID, at: datetime) -> None:
    await conn.execute(
        "UPDATE refresh_tokens SET rotated_at = %s WHERE token_sha256 = %s", (at, digest)
    )
    await conn.execute("UPDATE token_families SET last_used_at = %s WHERE id = %s", (at, family_id))


async def revoke_family(conn: Conn, family_id: UUID, reason: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE token_families SET revoked_at = %s, revoked_reason = %s "
        "WHERE id = %s AND revoked_at IS NULL",
        (at, reason, family_id),
    )


async def revoke_user_families(
    conn: Conn, user_id: UUID, reason: str, at: datetime, *, keep: UUID | None = None
) -> None:
    await conn.execute(
        "UPDATE token_families SET revoked_at = %s, revoked_reason = %s "
        "WHERE user_id = %s AND revoked_at IS NULL AND id IS DISTINCT FROM %s",
        (at, reason, user_id, keep),
    )


async def active_family(conn: Conn, user_id: UUID, family_id: UUID) -> bool:
    """True when the access token's family still stands (checked on every request)."""
    cur = await conn.execute(
        "SELECT 1 FROM token_families WHERE id = %s AND user_id = %s AND revoked_at IS NULL",
        (family_id, user_id),
    )
    return await cur.fetchone() is not None


async def sessions(conn: Conn, user_id: UUID) -> list[Session]:
    async with conn.cursor(row_factory=class_row(Session)) as cur:
        await cur.execute(
            f"SELECT {_SESSION} FROM token_families WHERE user_id = %s "
            "ORDER BY last_used_at DESC, id".encode(),
            (user_id,),
        )
        return await cur.fetchall()


async def revoke_session(conn: Conn, user_id: UUID, family_id: UUID, at: datetime) -> bool:
    """Revoke one of *this user's* sessions; another user's id matches nothing."""
    cur = await conn.execute(
        "UPDATE token_families SET revoked_at = coalesce(revoked_at, %s), "
        "revoked_reason = coalesce(revoked_reason, 'user') WHERE id = %s AND user_id = %s",
        (at, family_id, user_id),
    )
    return cur.rowcount > 0


async def set_admin(conn: Conn, email: str, is_admin: bool) -> bool:
    """Grant or revoke operator rights; False when there is no such account."""
    cur = await conn.execute(
        "UPDATE users SET is_admin = %s, updated_at = now() WHERE email_key = %s",
        (is_admin, email_key(email)),
    )
    return cur.rowcount > 0


async def email_digest(conn: Conn, user_id: UUID) -> bool:
    cur = await conn.execute("SELECT email_digest FROM users WHERE id = %s", (user_id,))
    row = await cur.fetchone()
    return bool(row and row[0])


async def set_email_digest(conn: Conn, user_id: UUID, enabled: bool) -> None:
    await conn.execute(
        "UPDATE users SET email_digest = %s, updated_at = now() WHERE id = %s", (enabled, user_id)
    )
