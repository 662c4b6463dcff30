"""Versioned schema migrations: numbered SQL files applied in order, each in its own transaction.

A small runner rather than a framework: the maintained tools either sit on SQLAlchemy (Alembic)
or drive their own drivers, while ours is psycopg 3 and plain SQL. It keeps a version table with
a checksum per migration (an edited, already-applied file is an error, not a silent drift) and
holds an advisory lock so two processes starting at once cannot both migrate.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# pg_advisory_lock key: any constant unique to this application.
_LOCK_KEY = 0x746D6D5F6D6967  # "tmm_mig"

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    """One SQL file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True)
class MigrationStatus:
    """Where a database stands against the migrations this code ships."""

    current: int
    latest: int
    pending: tuple[int, ...]
    changed: tuple[int, ...]  # applied, but the file has been edited since
    unknown: tuple[int, ...]  # applied, but this code does not know them (newer code ran)

    @property
    def up_to_date(self) -> bool:
        return not self.pending and not self.changed


class MigrationError(RuntimeError):
    """The database and the migration files disagree."""


def load_migrations() -> list[Migration]:
    """The migrations shipped in ``tellmemore/storage/migrations``, in version order."""
    found: list[Migration] = []
    for entry in resources.files("tellmemore.storage").joinpath("migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a version: {versions}")
    return found


async def _applied(conn: psycopg.AsyncConnection[Any]) -> dict[int, str]:
    exists = await conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
    row = await exists.fetchone()
    if not row or not row[0]:
        return {}
    cur = await conn.execute("SELECT version, checksum FROM schema_migrations")
    return {int(v): str(c) for v, c in await cur.fetchall()}


def _status(applied: dict[int, str], migrations: list[Migration]) -> MigrationStatus:
    known = {m.version: m for m in migrations}
    return MigrationStatus(
        current=max(applied, default=0),
        latest=max(known, default=0),
        pending=tuple(v for v in known if v not in applied),
        changed=tuple(v for v, c in applied.items() if v in known and known[v].checksum != c),
        unknown=tuple(sorted(v for v in applied if v not in known)),
    )


async def migration_status(conn: psycopg.AsyncConnection[Any]) -> MigrationStatus:
    """Compare the database with the shipped migrations (read-only)."""
    return _status(await _applied(conn), load_migrations())


async def migrate(conninfo: str) -> list[Migration]:
    """Apply every pending migration; return the ones applied. Safe to run concurrently."""
    migrations = load_migrations()
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            await conn.execute(_CREATE_TABLE)
            status = _status(await _applied(conn), migrations)
            if status.changed:
                raise MigrationError(
                    f"migrations {list(status.changed)} were edited after being applied; "
                    "add a new migration instead of changing an applied one"
                )
            done: list[Migration] = []
            for migration in migrations:
                if migration.version not in status.pending:
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql.encode())
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) "
                        "VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                done.append(migration)
            return done
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
