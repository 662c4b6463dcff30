"""What every ``tmm`` command shares: settings from the environment, running a job against the
services, and the errors and JSON output all commands print the same way.

Every command builds :class:`~tellmemore.settings.Settings` once and passes it down; catalog errors
print their message and exit non-zero instead of a traceback.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import typer
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import PoolTimeout
from pydantic import ValidationError

from tellmemore.errors import CatalogError
from tellmemore.settings import Settings, load_settings
from tellmemore.wiring import Services, open_services

T = TypeVar("T")

# Where `tmm local up` keeps the private servers it started (relative to the working folder).
STATE_DIR = Path(".local")


def load_cli_settings() -> Settings:
    """Settings from the environment; a bad configuration is one clear message, exit 2."""
    try:
        return load_settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        typer.secho(f"configuration error: {problems}", fg="red", err=True)
        raise typer.Exit(2) from exc


def run_job(
    settings: Settings, job: Callable[[Services], Awaitable[T]], *, search: bool = False
) -> T:
    """Open services, run ``job``, and turn catalog errors into a message and exit code 1.
    ``search`` loads the embedding model in this process for jobs that search."""

    async def main() -> T:
        embedder = None
        if search:
            from models.embedder import LocalTextEmbedder
            from tellmemore.storage import model_artifacts

            embedder = LocalTextEmbedder(
                settings.models.embedder,
                artifacts=model_artifacts(settings.s3, settings.models),
            )
        async with open_services(settings, wait_for_db=True, text_embedder=embedder) as services:
            return await job(services)

    with clean_errors(settings):
        return asyncio.run(main())


@contextmanager
def clean_errors(settings: Settings) -> Iterator[None]:
    """Known failures print one line and exit 1; only bugs print a traceback."""
    try:
        yield
    except CatalogError as exc:
        typer.secho(f"error [{exc.code}]: {exc.message}", fg="red", err=True)
        raise typer.Exit(1) from exc
    except (PoolTimeout, psycopg.OperationalError) as exc:
        where = conninfo_to_dict(settings.database.url)
        typer.secho(
            f"error [database_unavailable]: PostgreSQL at {where.get('host')}:{where.get('port')} "
            "does not answer (run `tmm local up`, or set TMM_DATABASE__URL).",
            fg="red",
            err=True,
        )
        raise typer.Exit(1) from exc


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON (dates, UUIDs and paths as strings), so scripts and
    people read the same output."""
    typer.echo(json.dumps(data, indent=2, default=str))
