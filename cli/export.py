"""``tmm export``: research exports of the catalog (passages as Parquet, transcripts)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import clean_errors, echo_json, load_cli_settings

if TYPE_CHECKING:  # pandas and pyarrow load only when an export runs, not on every `tmm`
    from tellmemore.research.exports import ExportReport

app = typer.Typer(help="Exports for research (read-only).", no_args_is_help=True)

PodcastOption = Annotated[
    list[str] | None, typer.Option("--podcast", help="Only this podcast id (repeatable)")
]


def _report(report: ExportReport) -> None:
    """Print what an export wrote, as JSON."""
    echo_json({"path": str(report.path), "files": report.files, "rows": report.rows,
               "podcasts": report.podcasts, "skipped": report.skipped})  # fmt: skip


@app.command("segments")
def export_segments_command(
    out: Annotated[Path, typer.Argument(help="Folder for the Parquet dataset")],
    podcast: PodcastOption = None,
    vectors: Annotated[bool, typer.Option(help="Include the embeddings")] = True,
) -> None:
    """Passages with embeddings and episode metadata as Parquet, partitioned by podcast
    (``podcast_id=<id>/part-0.parquet``)."""
    from tellmemore.research.catalog import ResearchCatalog
    from tellmemore.research.exports import export_segments

    settings = load_cli_settings()
    with clean_errors(settings), ResearchCatalog(settings) as catalog:
        _report(export_segments(catalog, out, podcast_ids=podcast, vectors=vectors))


@app.command("transcripts")
def export_transcripts_command(
    out: Annotated[Path, typer.Argument(help="Folder for one file per episode")],
    fmt: Annotated[str, typer.Option("--format", help="json (segments, word timings) or vtt")] = (
        "json"
    ),
    podcast: PodcastOption = None,
) -> None:
    """Transcripts as ``<podcast_id>/<episode_id>.json`` or ``.vtt``."""
    if fmt not in ("json", "vtt"):
        typer.secho(f"error [bad_format]: --format is json or vtt, not {fmt!r}.", fg="red",
                    err=True)  # fmt: skip
        raise typer.Exit(2)
    from tellmemore.research.catalog import ResearchCatalog
    from tellmemore.research.exports import export_transcripts

    settings = load_cli_settings()
    with clean_errors(settings), ResearchCatalog(settings) as catalog:
        report = export_transcripts(
            catalog, out, fmt="json" if fmt == "json" else "vtt", podcast_ids=podcast
        )
    _report(report)
