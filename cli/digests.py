"""``tmm digests``: send the topic-playlist email digests by hand (the processor also sends them
on a timer)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from cli.common import echo_json, load_cli_settings, run_job
from tellmemore.notify import make_email_http_client, make_sender
from tellmemore.wiring import Services

app = typer.Typer(help="Topic playlist email digests.", no_args_is_help=True)


@app.command("send")
def digests_send(
    force: Annotated[bool, typer.Option(help="Ignore the once-per-interval limit")] = False,
) -> None:
    """Email opted-in owners what their topic playlists gained since their last digest."""
    settings = load_cli_settings()

    async def job(services: Services) -> object:
        http = make_email_http_client(settings.email) if settings.email.backend == "http" else None
        try:
            interval = timedelta(seconds=0 if force else settings.email.digest_interval_s)
            sender = make_sender(settings.email, http)
            return await services.digests.send(sender, settings.email, min_interval=interval)
        finally:
            if http is not None:
                await http.aclose()

    echo_json(vars(run_job(settings, job)))
