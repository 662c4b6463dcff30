"""``tmm jobs``: the episode processing queue: its depth, its failures, and retrying them."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated

import typer

from cli.common import load_cli_settings, run_job
from tellmemore.errors import CatalogError
from tellmemore.wiring import Services

app = typer.Typer(help="Episode processing jobs: failures and retries.", no_args_is_help=True)


@app.command("failed")
def jobs_failed(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False,
) -> None:
    """List dead-lettered episode jobs with their last error."""
    settings = load_cli_settings()
    failed = run_job(settings, lambda s: s.jobs.failed(limit=limit))
    for job in failed:
        if as_json:
            typer.echo(json.dumps(dataclasses.asdict(job), default=str))
        else:
            typer.echo(
                f"{job.job_id}\t{job.episode_id}\t{job.attempts} attempts\t"
                f"{job.error_code}: {job.error}\t{job.episode_title or ''}"
            )
    if not failed and not as_json:
        typer.echo("no failed jobs")


@app.command("retry")
def jobs_retry(
    job_ids: Annotated[list[int], typer.Argument(help="Job ids from `jobs failed`")],
) -> None:
    """Send failed jobs back to the queue with a fresh set of attempts."""
    settings = load_cli_settings()

    async def job(services: Services) -> int:
        bad = 0
        for job_id in job_ids:
            try:
                retried = await services.jobs.retry(job_id)
                typer.echo(f"{job_id}: queued again ({retried.episode_id})")
            except CatalogError as exc:
                typer.echo(f"{job_id}: {exc.message}", err=True)
                bad += 1
        return bad

    if run_job(settings, job):
        raise typer.Exit(1)


@app.command("status")
def jobs_status() -> None:
    """Jobs per state: queued, running, done, dead."""
    settings = load_cli_settings()
    depth = run_job(settings, lambda s: s.jobs.depth())
    typer.echo("  ".join(f"{k}={v}" for k, v in depth.items()))
