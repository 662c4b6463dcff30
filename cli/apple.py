"""``tmm apple``: search the Apple Podcasts directory."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import load_cli_settings, run_job
from tellmemore.wiring import Services

app = typer.Typer(help="Apple Podcasts discovery.", no_args_is_help=True)


@app.command("search")
def apple_search(
    term: str,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 10,
    country: Annotated[str | None, typer.Option(help="Two-letter store country")] = None,
) -> None:
    """Search Apple Podcasts."""
    settings = load_cli_settings()

    async def job(services: Services) -> None:
        found = await services.catalog.search_apple(term, limit=limit, country=country)
        for p, known in found:
            mark = "in catalog" if known else ("no public feed" if not p.feed_url else "")
            typer.echo(f"{p.apple_id:>12}  {p.title}  — {p.author or '?'}  {mark}".rstrip())

    run_job(settings, job)
