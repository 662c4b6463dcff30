"""``tmm feeds``: fetch the catalog's feeds again and merge what is new."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import typer

from cli.common import load_cli_settings, run_job
from tellmemore.wiring import Services

app = typer.Typer(help="Feed fetching.", no_args_is_help=True)


@app.command("refresh")
def feeds_refresh(
    podcast: Annotated[UUID | None, typer.Option(help="Only this podcast")] = None,
    force: Annotated[bool, typer.Option(help="Ignore ETag/Last-Modified and re-parse")] = False,
) -> None:
    """Fetch feeds again and merge new episodes; per-feed errors are recorded and listed."""
    settings = load_cli_settings()

    async def job(services: Services) -> int:
        if podcast is not None:
            result = await services.catalog.refresh(podcast, force=force)
            typer.echo(f"{podcast}: +{result.added} new, {result.updated} updated")
            return 0
        failures = 0
        for outcome in await services.catalog.refresh_all(force=force):
            if outcome.result is not None:
                r = outcome.result
                note = "not modified" if r.not_modified else f"+{r.added} new, {r.updated} updated"
                typer.echo(f"{outcome.podcast_id}: {note}")
            else:
                failures += 1
                typer.echo(f"{outcome.podcast_id}: FAILED [{outcome.error_code}] {outcome.error}")
        return failures

    failures = run_job(settings, job)
    if failures:
        typer.echo(f"{failures} feed(s) failed; their errors are recorded on the podcasts.")
