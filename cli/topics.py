"""``tmm topics``: refresh the topic playlists by hand (the processor also does it on a timer)."""

from __future__ import annotations

import typer

from cli.common import echo_json, load_cli_settings, run_job
from tellmemore.wiring import Services

app = typer.Typer(help="Topic playlists.", no_args_is_help=True)


@app.command("refresh")
def topics_refresh() -> None:
    """Add what newly processed episodes say to every topic playlist (idempotent)."""
    settings = load_cli_settings()

    async def job(services: Services) -> object:
        return await services.topics.refresh_all()

    echo_json(vars(run_job(settings, job, search=True)))
