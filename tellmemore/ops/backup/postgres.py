"""PostgreSQL dumps and restores with the server's own tools (``pg_dump -Fc``, ``pg_restore``).

A custom-format dump is one consistent snapshot of the database (pg_dump reads it in a single
repeatable-read transaction) and restores table by table, so a restore into an empty database
is the documented path rather than replaying SQL. A restore therefore always fills a new
database and only then puts it in the live one's place. Passwords never appear in the tools'
arguments.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

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


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """``url`` for pg_dump/pg_restore: the connection string without its password, which goes
    in the child's environment (PGPASSWORD) instead of its arguments, where every local user
    could read it in ``ps``. Without a password in the URL, libpq's own ~/.pgpass or
    PGPASSFILE apply."""
    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = str(password)
    return make_conninfo("", **params), env


def _run(args: list[str], what: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, capture_output=True, text=True, check=False, env=env)  # noqa: S603  # our tools, our settings
    if done.returncode != 0:
        raise BackupError(f"{what} failed: {done.stderr.strip()[-2000:]}", code="postgres_failed")
    return done.stdout


def dump_command(url: str, path: Path) -> tuple[list[str], dict[str, str]]:
    conninfo, env = _libpq(url)
    return [_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
            f"--file={path}", f"--dbname={conninfo}"], env  # fmt: skip


def dump(url: str, path: Path) -> tuple[int, str]:
    """Dump the database to ``path`` (custom format); returns its size and sha256."""
    args, env = dump_command(url, path)
    _run(args, "pg_dump", env)
    return path.stat().st_size, sha256_of(path)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, size: int, sha256: str | None) -> None:
    """A downloaded dump is the one the backup recorded (size, digest where the manifest has
    one) and an archive pg_restore can read, before anything is touched."""
    if path.stat().st_size != size:
        raise BackupError(f"The dump has {path.stat().st_size} bytes; the backup recorded "
                          f"{size}. Nothing was changed.", code="dump_corrupt")  # fmt: skip
    if sha256 is not None and sha256_of(path) != sha256:
        raise BackupError("The dump's sha256 differs from the one the backup recorded. "
                          "Nothing was changed.", code="dump_corrupt")  # fmt: skip
    try:
        _run([_tool("pg_restore"), "--list", str(path)], "pg_restore --list")
    except BackupError as exc:
        raise BackupError(f"The dump is not a readable archive ({exc.message}). Nothing was "
                          "changed.", code="dump_corrupt") from exc  # fmt: skip


def restore(url: str, path: Path) -> None:
    """Restore a dump into the database at ``url`` in one transaction (all or nothing)."""
    conninfo, env = _libpq(url)
    args = [_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
            "--single-transaction", f"--dbname={conninfo}", str(path)]  # fmt: skip
    _run(args, "pg_restore", env)


def user_tables(url: str) -> list[str]:
    """Tables in the database's own schemas (empty for a fresh database)."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT schemaname || '.' || tablename FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
        ).fetchall()
    return [str(r[0]) for r in rows]


def database_name(url: str) -> str:
    return str(conninfo_to_dict(url).get("dbname") or "")


def with_database(url: str, name: str) -> str:
    return make_conninfo(url, dbname=name)


def database_exists(url: str) -> bool:
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        row = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database_name(url),)
        ).fetchone()
    return row is not None


def drop_database(url: str) -> None:
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(database_name(url))))  # fmt: skip


def replace_database(url: str, staging: str) -> str | None:
    """Put the database ``staging`` (fully restored) in the place of ``url``'s: new connections
    to the old one are refused, open ones ended, the old renamed aside and ``staging`` renamed
    to the name. Returns the old database's new name (``None`` if there was none), for the
    caller to drop once everything else has been restored too."""
    name = database_name(url)
    aside = f"{name[:40]}_replaced_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(
                sql.Identifier(name)))  # fmt: skip
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()", (name,)
            )  # fmt: skip
            _rename(conn, name, aside)
        _rename(conn, staging, name)
    return aside if exists else None


def _rename(conn: psycopg.Connection[Any], old: str, new: str) -> None:
    """ALTER DATABASE ... RENAME, retried while ended sessions are still going away."""
    for attempt in range(50):
        try:
            conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(old), sql.Identifier(new)))  # fmt: skip
            return
        except psycopg.errors.ObjectInUse:
            if attempt == 49:
                raise
            time.sleep(0.1)


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
