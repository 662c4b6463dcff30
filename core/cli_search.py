"""``tmm index``, ``tmm topics`` and ``tmm digests``: the search side's upkeep, by hand.

The processor runs all of this on its own (after each episode and on a timer); these commands
are for operators and for batch work that bypassed the processor (a backfill).
"""

from __future__ import annotations

from datetime import timedelta

import typer

from core.cli import _clean_errors, _echo_json, _run, _settings, app
from core.db import search_indexes
from core.email.http_api import make_email_http_client
from core.email.sender import make_sender
from core.errors import CatalogError, ErrorKind
from core.lance import connect
from core.search.indexes import maintain
from core.search.spaces import SearchIndex, index_for
from core.services import Services
from core.settings import Settings

index_app = typer.Typer(help="Search indexes on the LanceDB tables.", no_args_is_help=True)
topics_app = typer.Typer(help="Topic playlists.", no_args_is_help=True)
digests_app = typer.Typer(help="Topic playlist email digests.", no_args_is_help=True)
app.add_typer(index_app, name="index")
app.add_typer(topics_app, name="topics")
app.add_typer(digests_app, name="digests")


def _active_tables(settings: Settings) -> list[tuple[str, str]]:
    """The active index's tables with their full-text column (the settings' own index when
    none is recorded yet)."""

    async def job(services: Services) -> SearchIndex | None:
        async with services.pool.connection() as conn:
            return await search_indexes.active(conn)

    index = _run(settings, job) or index_for(settings.models.embedder)
    return [(index.segments_table, "text"), (index.summaries_table, "summary")]


@index_app.command("optimize")
def index_optimize() -> None:
    """Create missing full-text indexes, build or rebuild the vector index when the table is
    big enough, fold new rows into the indexes and compact; then drop cached search answers."""
    settings = _settings()
    tables = _active_tables(settings)
    with _clean_errors(settings):
        db = connect(settings.lance, settings.s3)
        names = set(db.table_names())
        reports = [
            maintain(db.open_table(name), settings.search, text_column=column)
            for name, column in tables
            if name in names
        ]

    async def invalidate(services: Services) -> None:
        await services.search.invalidate()

    _run(settings, invalidate)
    _echo_json([vars(r) for r in reports])


@index_app.command("status")
def index_status() -> None:
    """Rows, versions and indexes of the active index's tables."""
    settings = _settings()
    tables = _active_tables(settings)
    with _clean_errors(settings):
        db = connect(settings.lance, settings.s3)
        names = set(db.table_names())
        out = []
        for name, _ in tables:
            if name not in names:
                out.append({"table": name, "exists": False})
                continue
            table = db.open_table(name)
            indexes = []
            for index in table.list_indices():
                stats = table.index_stats(index.name)
                indexes.append({
                    "name": index.name,
                    "type": str(index.index_type),
                    "columns": list(index.columns),
                    "unindexed_rows": getattr(stats, "num_unindexed_rows", None),
                })  # fmt: skip
            out.append({"table": name, "rows": table.count_rows(), "version": table.version,
                        "indexes": indexes})  # fmt: skip
    _echo_json(out)


@index_app.command("list")
def index_list() -> None:
    """Every search index (one per embedding space): state, whether readers use it, model."""
    settings = _settings()

    async def job(services: Services) -> list[dict[str, object]]:
        async with services.pool.connection() as conn:
            records = await search_indexes.all_indexes(conn)
        return [
            {"name": r.index.name, "active": r.active, "state": r.state,
             "embedding_model": r.embedding_model, "segments_table": r.index.segments_table,
             "embedder": r.index.embedder.model_dump(include={"model", "query_prefix",
                                                               "passage_prefix"}),
             "created_at": r.created_at.isoformat(),
             "activated_at": r.activated_at.isoformat() if r.activated_at else None}
            for r in records
        ]  # fmt: skip

    _echo_json(_run(settings, job))


@index_app.command("activate")
def index_activate(name: str) -> None:
    """Switch readers and the online processor to the index ``name`` (a rollback, or the
    switch-over of an index built with --no-activate). The index of the current embedding
    settings may be named even if nothing recorded it yet (a system older than the registry).
    Servers follow within ``search.read_consistency_s``; cached answers are dropped."""
    settings = _settings()
    own = index_for(settings.models.embedder)

    async def job(services: Services) -> dict[str, object]:
        async with services.pool.connection() as conn:
            if name == own.name:
                await search_indexes.register(conn, own, None)
            try:
                record = await search_indexes.activate(conn, name)
            except LookupError:
                raise CatalogError(
                    "index_not_found",
                    f"There is no search index {name!r}; `tmm index list` shows them.",
                    ErrorKind.NOT_FOUND,
                ) from None
        await services.search.invalidate()
        return {"active": record.index.name, "segments_table": record.index.segments_table,
                "embedding_model": record.embedding_model}  # fmt: skip

    _echo_json(_run(settings, job))


@topics_app.command("refresh")
def topics_refresh() -> None:
    """Add what newly processed episodes say to every topic playlist (idempotent)."""
    settings = _settings()

    async def job(services: Services) -> object:
        return await services.topics.refresh_all()

    _echo_json(vars(_run(settings, job, search=True)))


@digests_app.command("send")
def digests_send(
    force: bool = typer.Option(False, help="Ignore the once-per-interval limit"),
) -> None:
    """Email opted-in owners what their topic playlists gained since their last digest."""
    settings = _settings()

    async def job(services: Services) -> object:
        http = make_email_http_client(settings.email) if settings.email.backend == "http" else None
        try:
            interval = timedelta(seconds=0 if force else settings.email.digest_interval_s)
            return await services.topics.send_digests(
                make_sender(settings.email, http), settings.email, min_interval=interval
            )
        finally:
            if http is not None:
                await http.aclose()

    _echo_json(vars(_run(settings, job)))
