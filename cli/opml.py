"""``tmm opml``: import subscription lists into the catalog and export the catalog as one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.common import load_cli_settings, run_job
from tellmemore.wiring import Services

app = typer.Typer(help="OPML subscription lists.", no_args_is_help=True)


@app.command("import")
def opml_import(path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Import every feed an OPML file lists."""
    settings = load_cli_settings()
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

    run_job(settings, job)


@app.command("export")
def opml_export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default stdout)")
    ] = None,
) -> None:
    """Write the public catalog as OPML 2.0 (private feeds' URLs are their subscribers')."""
    settings = load_cli_settings()
    data = run_job(settings, lambda s: s.catalog.export_opml(viewer=None))
    if output is None:
        sys.stdout.buffer.write(data)
    else:
        output.write_bytes(data)
