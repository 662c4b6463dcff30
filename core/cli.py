"""``tmm``: the one command-line entry point, with a subcommand per job.

Every command builds :class:`~core.settings.Settings` once and passes it down; catalog errors
print their message and exit non-zero instead of a traceback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar
from uuid import UUID

import psycopg
import typer
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import PoolTimeout
from pydantic import ValidationError

from core.db.migrate import load_migrations, migrate, migration_status
from core.demo import render_demo_feed
from core.errors import CatalogError
from core.services import Services, open_services
from core.settings import Settings, load_settings

T = TypeVar("T")

app = typer.Typer(
    help="Tell Me More: podcast catalog, processing and playlists.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
podcasts_app = typer.Typer(help="Podcasts in the catalog.", no_args_is_help=True)
feeds_app = typer.Typer(help="Feed fetching.", no_args_is_help=True)
apple_app = typer.Typer(help="Apple Podcasts discovery.", no_args_is_help=True)
opml_app = typer.Typer(help="OPML subscription lists.", no_args_is_help=True)
demo_app = typer.Typer(help="The demo podcast.", no_args_is_help=True)
admin_app = typer.Typer(help="Operator rights.", no_args_is_help=True)
jobs_app = typer.Typer(help="Episode processing jobs: failures and retries.", no_args_is_help=True)
api_app = typer.Typer(help="The HTTP API.", no_args_is_help=True)
local_app = typer.Typer(help="Local services for development and tests.", no_args_is_help=True)
models_app = typer.Typer(help="The ML models.", no_args_is_help=True)
for sub, name in (
    (db_app, "db"), (podcasts_app, "podcasts"), (feeds_app, "feeds"), (apple_app, "apple"),
    (opml_app, "opml"), (demo_app, "demo"), (jobs_app, "jobs"), (admin_app, "admin"),
    (api_app, "api"), (local_app, "local"), (models_app, "models"),
):  # fmt: skip
    app.add_typer(sub, name=name)

STATE_DIR = Path(".local")


def _settings() -> Settings:
    """Settings from the environment; a bad configuration is one clear message, exit 2."""
    try:
        return load_settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        typer.secho(f"configuration error: {problems}", fg="red", err=True)
        raise typer.Exit(2) from exc


def _run(settings: Settings, job: Callable[[Services], Awaitable[T]], *, search: bool = False) -> T:
    """Open services, run ``job``, and turn catalog errors into a message and exit code 1.
    ``search`` loads the embedding model in this process for jobs that search."""

    async def main() -> T:
        embedder = None
        if search:
            from models.embedder import LocalTextEmbedder

            embedder = LocalTextEmbedder(settings.models.embedder)
        async with open_services(settings, wait_for_db=True, text_embedder=embedder) as services:
            return await job(services)

    with _clean_errors(settings):
        return asyncio.run(main())


@contextmanager
def _clean_errors(settings: Settings) -> Iterator[None]:
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


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


# ---- db --------------------------------------------------------------------------------


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending schema migrations."""
    settings = _settings()
    with _clean_errors(settings):
        applied = asyncio.run(migrate(settings.database.url))
    for m in applied:
        typer.echo(f"applied {m.version:04d}_{m.name}")
    latest = max((m.version for m in load_migrations()), default=0)
    typer.echo(f"schema at version {latest}" if applied else f"already at version {latest}")


@db_app.command("status")
def db_status() -> None:
    """Show applied and pending migrations; exit 1 if the schema is not current."""
    settings = _settings()

    async def job(services: Services) -> bool:
        async with services.pool.connection() as conn:
            status = await migration_status(conn)
        _echo_json(status.__dict__)
        return status.up_to_date

    if not _run(settings, job):
        raise typer.Exit(1)


# ---- podcasts and feeds ----------------------------------------------------------------


@podcasts_app.command("add")
def podcasts_add(
    feed_url: Annotated[str | None, typer.Argument(help="RSS/Atom feed URL")] = None,
    apple_id: Annotated[int | None, typer.Option(help="Apple Podcasts id instead of a URL")] = None,
) -> None:
    """Add a podcast by feed URL or Apple id."""
    if (feed_url is None) == (apple_id is None):
        raise typer.BadParameter("give a feed URL or --apple-id, not both")
    settings = _settings()

    async def job(services: Services) -> None:
        if apple_id is not None:
            added = await services.catalog.add_apple(apple_id)
        else:
            assert feed_url is not None
            added = await services.catalog.add_feed(feed_url)
        podcast = await services.catalog.get_podcast(added.podcast_id)
        typer.echo(f"added {podcast.title!r} ({podcast.id}) with {added.ingest.added} episodes")

    _run(settings, job)


@podcasts_app.command("list")
def podcasts_list(limit: Annotated[int, typer.Option(min=1, max=1000)] = 100) -> None:
    """List podcasts in the catalog."""
    settings = _settings()

    async def job(services: Services) -> None:
        page = await services.catalog.list_podcasts(limit=limit, cursor=None, query=None)
        for p in page.items:
            status = p.last_error_code or "ok"
            typer.echo(f"{p.id}  {p.episode_count:5d} episodes  [{status}]  {p.title}")

    _run(settings, job)


@feeds_app.command("refresh")
def feeds_refresh(
    podcast: Annotated[UUID | None, typer.Option(help="Only this podcast")] = None,
    force: Annotated[bool, typer.Option(help="Ignore ETag/Last-Modified and re-parse")] = False,
) -> None:
    """Fetch feeds again and merge new episodes; per-feed errors are recorded and listed."""
    settings = _settings()

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

    failures = _run(settings, job)
    if failures:
        typer.echo(f"{failures} feed(s) failed; their errors are recorded on the podcasts.")


# ---- Apple -----------------------------------------------------------------------------


@apple_app.command("search")
def apple_search(
    term: str,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 10,
    country: Annotated[str | None, typer.Option(help="Two-letter store country")] = None,
) -> None:
    """Search Apple Podcasts."""
    settings = _settings()

    async def job(services: Services) -> None:
        found = await services.catalog.search_apple(term, limit=limit, country=country)
        for p, known in found:
            mark = "in catalog" if known else ("no public feed" if not p.feed_url else "")
            typer.echo(f"{p.apple_id:>12}  {p.title}  — {p.author or '?'}  {mark}".rstrip())

    _run(settings, job)


# ---- OPML ------------------------------------------------------------------------------


@opml_app.command("import")
def opml_import(path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Import every feed an OPML file lists."""
    settings = _settings()
    data = path.read_bytes()

    async def job(services: Services) -> None:
        report = await services.catalog.import_opml(data)
        for item in report.items:
            why = f" [{item.error_code}] {item.error}" if item.error_code else ""
            typer.echo(f"{item.status:8} {item.feed_url or item.title}{why}")
        typer.echo(
            f"{report.count('created')} added, {report.count('exists')} already there, "
            f"{report.count('failed')} failed"
        )

    _run(settings, job)


@opml_app.command("export")
def opml_export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default stdout)")
    ] = None,
) -> None:
    """Write the catalog as OPML 2.0."""
    settings = _settings()
    data = _run(settings, lambda s: s.catalog.export_opml())
    if output is None:
        sys.stdout.buffer.write(data)
    else:
        output.write_bytes(data)


# ---- demo, API, local services ---------------------------------------------------------


@demo_app.command("load")
def demo_load(
    process: Annotated[bool, typer.Option(help="Queue every demo episode for processing")] = True,
) -> None:
    """Load the demo podcast (its files are served by the API when TMM_DEMO__ENABLED=true)."""
    settings = _settings()
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
        podcast = await services.catalog.get_podcast(podcast_id)
        queued = await services.jobs.enqueue_newest(podcast_id, 1000) if process else []
        typer.echo(
            f"demo podcast {podcast.title!r} ({podcast.id}): {podcast.episode_count} episodes, "
            f"{len(queued)} queued for processing"
        )

    _run(settings, job)


@admin_app.command("grant")
def admin_grant(
    email: str, revoke: Annotated[bool, typer.Option(help="Take the rights away")] = False
) -> None:
    """Give an account operator rights (failed-job routes), or take them away."""
    from core.db import users

    settings = _settings()

    async def job(services: Services) -> bool:
        async with services.pool.connection() as conn:
            return await users.set_admin(conn, email, not revoke)

    if not _run(settings, job):
        typer.echo(f"no account for {email}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{email}: operator rights {'revoked' if revoke else 'granted'}")


# ---- processing jobs -------------------------------------------------------------------


@jobs_app.command("failed")
def jobs_failed(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False,
) -> None:
    """List dead-lettered episode jobs with their last error."""
    settings = _settings()
    failed = _run(settings, lambda s: s.jobs.failed(limit=limit))
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


@jobs_app.command("retry")
def jobs_retry(
    job_ids: Annotated[list[int], typer.Argument(help="Job ids from `jobs failed`")],
) -> None:
    """Send failed jobs back to the queue with a fresh set of attempts."""
    settings = _settings()

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

    if _run(settings, job):
        raise typer.Exit(1)


@jobs_app.command("status")
def jobs_status() -> None:
    """Jobs per state: queued, running, done, dead."""
    settings = _settings()
    depth = _run(settings, lambda s: s.jobs.depth())
    typer.echo("  ".join(f"{k}={v}" for k, v in depth.items()))


# Search upkeep and the operations commands live in their own modules; importing them
# registers them on ``app``.
from core import cli_backup, cli_ops, cli_research, cli_search  # noqa: E402,F401
