"""``tmm index``: the search indexes on the LanceDB tables, by hand.

The processor keeps them up on its own (after each episode and on a timer); these commands are
for operators and for batch work that bypassed the processor (a backfill), and for switching
readers between indexes.
"""

from __future__ import annotations

import typer

from cli.common import clean_errors, echo_json, load_cli_settings, run_job
from tellmemore.errors import CatalogError, ErrorKind
from tellmemore.index import SearchIndex, connect, index_for, maintain
from tellmemore.index import registry as search_indexes
from tellmemore.settings import Settings
from tellmemore.wiring import Services

app = typer.Typer(help="Search indexes on the LanceDB tables.", no_args_is_help=True)


def _active_tables(settings: Settings) -> list[tuple[str, str]]:
    """The active index's tables with their full-text column (the settings' own index when
    none is recorded yet)."""

    async def job(services: Services) -> SearchIndex | None:
        async with services.pool.connection() as conn:
            return await search_indexes.active(conn)

    index = run_job(settings, job) or index_for(settings.models.embedder)
    return [(index.segments_table, "text"), (index.summaries_table, "summary")]


@app.command("optimize")
def index_optimize() -> None:
    """Create missing full-text indexes, build or rebuild the vector index when the table is
    big enough, fold new rows into the indexes and compact; then drop cached search answers."""
    settings = load_cli_settings()
    tables = _active_tables(settings)
    with clean_errors(settings):
        db = connect(settings.lance, settings.s3)
        names = set(db.table_names())
        reports = [
            maintain(db.open_table(name), settings.search, text_column=column)
            for name, column in tables
            if name in names
        ]

    async def invalidate(services: Services) -> None:
        await services.search.invalidate()

    run_job(settings, invalidate)
    echo_json([vars(r) for r in reports])


@app.command("status")
def index_status() -> None:
    """Rows, versions and indexes of the active index's tables."""
    settings = load_cli_settings()
    tables = _active_tables(settings)
    with clean_errors(settings):
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
    echo_json(out)


@app.command("list")
def index_list() -> None:
    """Every search index (one per embedding space): state, whether readers use it, model."""
    settings = load_cli_settings()

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

    echo_json(run_job(settings, job))


@app.command("activate")
def index_activate(name: str) -> None:
    """Switch readers and the online processor to the index ``name`` (a rollback, or the
    switch-over of an index built with --no-activate). The index of the current embedding
    settings may be named even if nothing recorded it yet (a system older than the registry).
    Servers follow within ``search.read_consistency_s``; cached answers are dropped."""
    settings = load_cli_settings()
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

    echo_json(run_job(settings, job))
