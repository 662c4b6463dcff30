"""``tmm db``: the PostgreSQL schema (migrations and their status)."""

from __future__ import annotations

import asyncio

import typer

from cli.common import clean_errors, echo_json, load_cli_settings, run_job
from tellmemore.storage import load_migrations, migrate, migration_status
from tellmemore.wiring import Services

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("migrate")
def db_migrate() -> None:
    """Apply pending schema migrations."""
    settings = load_cli_settings()
    with clean_errors(settings):
        applied = asyncio.run(migrate(settings.database.url))
    for m in applied:
        typer.echo(f"applied {m.version:04d}_{m.name}")
    latest = max((m.version for m in load_migrations()), default=0)
    typer.echo(f"schema at version {latest}" if applied else f"already at version {latest}")


@app.command("status")
def db_status() -> None:
    """Show applied and pending migrations; exit 1 if the schema is not current."""
    settings = load_cli_settings()

    async def job(services: Services) -> bool:
        async with services.pool.connection() as conn:
            status = await migration_status(conn)
        echo_json(status.__dict__)
        return status.up_to_date

    if not run_job(settings, job):
        raise typer.Exit(1)
