"""``tmm podcasts``: add podcasts to the catalog and list them."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import load_cli_settings, run_job
from tellmemore.catalog import EVERYONE
from tellmemore.wiring import Services

app = typer.Typer(help="Podcasts in the catalog.", no_args_is_help=True)


@app.command("add")
def podcasts_add(
    feed_url: Annotated[str | None, typer.Argument(help="RSS/Atom feed URL")] = None,
    apple_id: Annotated[int | None, typer.Option(help="Apple Podcasts id instead of a URL")] = None,
) -> None:
    """Add a podcast by feed URL or Apple id."""
    if (feed_url is None) == (apple_id is None):
        raise typer.BadParameter("give a feed URL or --apple-id, not both")
    settings = load_cli_settings()

    async def job(services: Services) -> None:
        if apple_id is not None:
            added = await services.catalog.add_apple(apple_id)
        else:
            assert feed_url is not None
            added = await services.catalog.add_feed(feed_url)
        podcast = await services.catalog.get_podcast(added.podcast_id, viewer=EVERYONE)
        typer.echo(f"added {podcast.title!r} ({podcast.id}) with {added.ingest.added} episodes")

    run_job(settings, job)


@app.command("list")
def podcasts_list(limit: Annotated[int, typer.Option(min=1, max=1000)] = 100) -> None:
    """List podcasts in the catalog."""
    settings = load_cli_settings()

    async def job(services: Services) -> None:
        page = await services.catalog.list_podcasts(
            limit=limit, cursor=None, query=None, viewer=EVERYONE
        )
        for p in page.items:
            status = p.last_error_code or "ok"
            private = "  (private)" if p.private else ""
            typer.echo(f"{p.id}  {p.episode_count:5d} episodes  [{status}]  {p.title}{private}")

    run_job(settings, job)
