"""``tmm local``: PostgreSQL, Redis and S3 for development and tests: reach running ones, or
start private ones under ``STATE_DIR`` and stop only those."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import STATE_DIR, load_cli_settings
from tellmemore.ops import (
    LocalServiceError,
    ensure_postgres,
    ensure_redis,
    ensure_s3,
    stop_private_postgres,
    stop_private_redis,
    stop_private_s3,
)
from tellmemore.ops.local_services import local_s3_keys, private_services_running

app = typer.Typer(help="Local services for development and tests.", no_args_is_help=True)


@app.command("up")
def local_up(
    env_file: Annotated[Path | None, typer.Option(help="Write the settings to use here")] = None,
    started_file: Annotated[
        Path | None, typer.Option(help="Write the names of the servers this call started here")
    ] = None,
) -> None:
    """Reach PostgreSQL, Redis and S3, or install and start private ones (127.0.0.1 only).

    The env file gets the S3 keys too (the configured ones, else the local server's development
    pair): the settings have no default keys, so the app and the tests read them from there.
    """
    settings = load_cli_settings()
    if settings.environment == "production":
        typer.secho("error: `tmm local up` is for development and tests, not production "
                    "(TMM_ENVIRONMENT=production)", fg="red", err=True)  # fmt: skip
        raise typer.Exit(1)
    s3 = settings.s3
    keys = s3.static_keys()
    access_key, secret_key = local_s3_keys(*(keys or (None, None)))
    running_before = private_services_running(STATE_DIR.resolve())
    try:
        target = ensure_postgres(settings.database.url, STATE_DIR.resolve())
        redis_url = ensure_redis(settings.redis.url, STATE_DIR.resolve())
        s3_url = (
            ensure_s3(s3.endpoint_url, access_key, secret_key, STATE_DIR.resolve())
            if s3.endpoint_url
            else None
        )
    except LocalServiceError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    where = "started a private server" if target.started_here else "using the running server"
    typer.echo(f"postgres: {where} at {target.url}", err=True)
    typer.echo(f"redis: {redis_url}", err=True)
    typer.echo(f"s3: {s3_url or 'AWS'}", err=True)
    if started_file is not None:
        started = private_services_running(STATE_DIR.resolve()) - running_before
        started_file.parent.mkdir(parents=True, exist_ok=True)
        started_file.write_text("".join(f"{name}\n" for name in sorted(started)))
    if env_file is not None:
        env_file.parent.mkdir(parents=True, exist_ok=True)
        lines = [f"TMM_DATABASE__URL={target.url}", f"TMM_REDIS__URL={redis_url}"]
        if s3_url:
            lines += [f"TMM_S3__ENDPOINT_URL={s3_url}", f"TMM_S3__ACCESS_KEY_ID={access_key}",
                      f"TMM_S3__SECRET_ACCESS_KEY={secret_key}"]  # fmt: skip
        env_file.write_text("\n".join(lines) + "\n")


@app.command("down")
def local_down(
    only_file: Annotated[
        Path | None,
        typer.Option("--only", help="Stop only the servers this file names (up --started-file)"),
    ] = None,
) -> None:
    """Stop the services `local up` started (never anything else)."""
    wanted = None if only_file is None else set(only_file.read_text().split())
    stopped = [
        name
        for name, key, stop in (
            ("PostgreSQL", "postgres", stop_private_postgres),
            ("Redis", "redis", stop_private_redis),
            ("S3", "s3", stop_private_s3),
        )
        if (wanted is None or key in wanted) and stop(STATE_DIR.resolve())
    ]
    typer.echo(f"stopped {', '.join(stopped)}" if stopped else "nothing of ours was running")
