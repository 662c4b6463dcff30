"""PostgreSQL dumps and restores with the server's own tools (``pg_dump -Fc``, ``pg_restore``).

A custom-format dump is one consistent snapshot of the database (pg_dump reads it in a single
repeatable-read transaction) and restores table by table, so a restore into an empty database
is the documented path rather than replaying SQL.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo


class BackupError(RuntimeError):
    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (Debian: postgresql-client).",
                          code="tool_missing")  # fmt: skip
    return found


def _run(args: list[str], what: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False)  # noqa: S603  # our tools, our settings
    if done.returncode != 0:
        raise BackupError(f"{what} failed: {done.stderr.strip()[-2000:]}", code="postgres_failed")


def dump(url: str, path: Path) -> int:
    """Dump the database to ``path`` (custom format); returns its size in bytes."""
    _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
          f"--file={path}", f"--dbname={url}"], "pg_dump")  # fmt: skip
    return path.stat().st_size


def restore(url: str, path: Path) -> None:
    """Restore a dump into the database at ``url`` in one transaction (all or nothing)."""
    _run([_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
          "--single-transaction", f"--dbname={url}", str(path)], "pg_restore")  # fmt: skip


def user_tables(url: str) -> list[str]:
    """Tables in the database's own schemas (empty for a fresh database)."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT schemaname || '.' || tablename FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
        ).fetchall()
    return [str(r[0]) for r in rows]


def clear(url: str) -> None:
    """Drop everything in the public schema (a forced restore over a live database)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def create_database(url: str) -> None:
    """Create the database ``url`` names if it does not exist (connecting to ``postgres``)."""
    params = conninfo_to_dict(url)
    name = str(params.get("dbname") or "")
    admin = make_conninfo(url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def schema_version(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0
