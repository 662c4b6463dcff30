"""``tmm backup``: take, list, prune and restore backups (PostgreSQL + LanceDB + S3 layout)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Annotated

import typer

from cli.common import clean_errors, echo_json, load_cli_settings
from tellmemore.ops import BackupError, Backups
from tellmemore.settings import Settings
from tellmemore.storage import StorageError

app = typer.Typer(help="Backups and restores of the catalog.", no_args_is_help=True)


@contextmanager
def _backup_errors(settings: Settings) -> Iterator[None]:
    """Like ``clean_errors``, plus backup and object-store failures as one line and exit 1."""
    with clean_errors(settings):
        try:
            yield
        except (BackupError, StorageError) as exc:
            typer.secho(f"error [{exc.code}]: {exc}", fg="red", err=True)
            raise typer.Exit(1) from exc


@app.command("create")
def backup_create() -> None:
    """Dump PostgreSQL to S3 and tag (and copy) the LanceDB tables; prints the manifest."""
    settings = load_cli_settings()
    with _backup_errors(settings):
        manifest = Backups(settings).create()
    typer.echo(manifest.to_json())


@app.command("list")
def backup_list() -> None:
    """Complete backups, oldest first."""
    settings = load_cli_settings()
    with _backup_errors(settings):
        found = Backups(settings).backups()
    echo_json([{"id": m.id, "created_at": m.created_at, "schema_version": m.schema_version,
                "postgres_bytes": m.postgres_bytes, "tables": {t.name: t.rows for t in m.tables}}
               for m in found])  # fmt: skip


@app.command("prune")
def backup_prune() -> None:
    """Delete backups older than TMM_BACKUP__RETENTION_DAYS (7); the newest always stays."""
    settings = load_cli_settings()
    with _backup_errors(settings):
        echo_json({"pruned": Backups(settings).prune()})


@app.command("restore")
def backup_restore(
    backup_id: Annotated[str, typer.Argument(help="A backup id from `tmm backup list`")],
    database_url: Annotated[
        str | None, typer.Option(help="Restore into this database (created if missing)")
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite a database that has tables")] = False,
) -> None:
    """Bring PostgreSQL and the LanceDB tables back to a backup. Refuses a non-empty target
    database unless --force."""
    settings = load_cli_settings()
    with _backup_errors(settings):
        report = Backups(settings).restore(backup_id, database_url=database_url, force=force)
    echo_json({**asdict(report), "seconds": round(report.seconds, 2)})
