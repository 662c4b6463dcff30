"""``tmm demo``: load the demo podcast that ships with the app."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import typer

from cli.common import load_cli_settings, run_job
from tellmemore.catalog import EVERYONE
from tellmemore.errors import CatalogError
from tellmemore.ops import render_demo_feed
from tellmemore.wiring import Services

app = typer.Typer(help="The demo podcast.", no_args_is_help=True)


@app.command("load")
def demo_load(
    process: Annotated[bool, typer.Option(help="Queue every demo episode for processing")] = True,
) -> None:
    """Load the demo podcast (its files are served by the API when TMM_DEMO__ENABLED=true)."""
    settings = load_cli_settings()
    base = f"http://{settings.api.host}:{settings.api.port}/"
    url = base + "demo/feed.xml"

    async def job(services: Services) -> None:
        try:
            podcast_id = (
                await services.catalog.add_document(url, render_demo_feed(base))
            ).podcast_id
        except CatalogError as exc:
            if exc.code != "podcast_exists":
                raise
            podcast_id = UUID(exc.details["podcast_id"])
        podcast = await services.catalog.get_podcast(podcast_id, viewer=EVERYONE)
        queued = await services.jobs.enqueue_newest(podcast_id, 1000) if process else []
        typer.echo(
            f"demo podcast {podcast.title!r} ({podcast.id}): {podcast.episode_count} episodes, "
            f"{len(queued)} queued for processing"
        )

    run_job(settings, job)
