"""``tmm models``: build the model folders that do not ship ready to load, publish model
folders to object storage as the artifacts production replicas fetch, and choose (promote) the
version a URI without a digest means."""

from __future__ import annotations

import json
from pathlib import Path
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


PREPARED = ("whisper-base", "whisper-tiny.en", "llm", "embedder")
_CHOICES = ", ".join(PREPARED)


@app.command("publish")
def models_publish(
    name: Annotated[
        str | None,
        typer.Argument(help="Artifact name (default with --prepared: the model's own name)"),
    ] = None,
    folder: Annotated[
        Path | None, typer.Argument(help="A model folder ready to load (files as they load)")
    ] = None,
    prepared: Annotated[
        str | None,
        typer.Option(help="A folder `tmm models prepare` makes or a package ships: " + _CHOICES),
    ] = None,
    promote: Annotated[
        bool,
        typer.Option(help="Make it the version s3://<bucket>/models/<name> resolves to"),
    ] = True,
) -> None:
    """Upload a model folder to object storage as s3://<bucket>/models/<name>/<digest> and
    print its URI and digest as JSON. Unless --no-promote, it then becomes the current version:
    nodes that fetch s3://<bucket>/models/<name> (no digest) get it from their next start.
    Publishing the same bytes again uploads nothing."""
    from models.artifacts import ArtifactError, manifest_of, publish
    from tellmemore.storage import ObjectStore, S3ArtifactStore, StorageError

    settings = load_cli_settings()
    if (folder is None) == (prepared is None):
        raise typer.BadParameter("give a FOLDER or --prepared, not both or neither")
    if prepared is not None:
        default_name, folder = _prepared_folder(prepared, settings.models.dir)
        name = name or default_name
    if name is None or folder is None:
        raise typer.BadParameter("NAME is required with a FOLDER")
    objects = ObjectStore(settings.s3)
    try:
        objects.ensure_bucket()
        ref = publish(folder, name, S3ArtifactStore(objects), promote=promote)
        manifest = manifest_of(folder, name)
    except (ArtifactError, StorageError) as exc:
        typer.secho(f"publish failed: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps({
        "uri": ref.uri, "name": ref.name, "digest": ref.digest, "version": ref.version,
        "files": len(manifest.files), "bytes": manifest.total_bytes, "promoted": promote,
        "current_uri": f"s3://{ref.bucket}/models/{ref.name}",
    }))  # fmt: skip


@app.command("promote")
def models_promote(
    name: Annotated[str, typer.Argument(help="Artifact name")],
    digest: Annotated[
        str, typer.Argument(help="A published digest (or a unique prefix of 12+ hex digits)")
    ],
) -> None:
    """Make a published version the one s3://<bucket>/models/<name> resolves to (a rollback is
    promoting the previous digest). Refused for a digest without a manifest. Running replicas
    keep what they loaded; new ones, and the LLM app when it is next deployed, get this one."""
    from models.artifacts import ArtifactError, list_versions, promote
    from tellmemore.storage import ObjectStore, S3ArtifactStore, StorageError

    store = S3ArtifactStore(ObjectStore(load_cli_settings().s3))
    try:
        if len(digest) < 64 and len(digest) >= 12:
            matches = [v.ref.digest for v in list_versions(store, name)
                       if v.ref.digest.startswith(digest)]  # fmt: skip
            if len(matches) == 1:
                digest = matches[0]
        ref = promote(store, name, digest)
    except (ArtifactError, StorageError) as exc:
        typer.secho(f"promote failed: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps({"name": ref.name, "digest": ref.digest, "uri": ref.uri}))


@app.command("list")
def models_list(
    name: Annotated[str | None, typer.Argument(help="Only this artifact name")] = None,
) -> None:
    """Every published version: name, digest, whether it is current (*), files and size."""
    from models.artifacts import ArtifactError, list_versions
    from tellmemore.storage import ObjectStore, S3ArtifactStore, StorageError

    store = S3ArtifactStore(ObjectStore(load_cli_settings().s3))
    try:
        versions = list_versions(store, name)
    except (ArtifactError, StorageError) as exc:
        typer.secho(f"list failed: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    if not versions:
        typer.echo("no published model artifacts")
        return
    width = max(len(v.ref.name) for v in versions)
    for v in versions:
        mark = "*" if v.current else " "
        typer.echo(f"{mark} {v.ref.name:<{width}}  {v.ref.digest}  {v.files:>4} files  "
                   f"{v.total_bytes / 2**20:>10.1f} MiB")  # fmt: skip


def _prepared_folder(which: str, models_dir: Path) -> tuple[str, Path]:
    from models.prepare import assemble_whisper_base, prepare_smollm2
    from models.registry import PACKAGED_EMBEDDER, PACKAGED_WHISPER, embedder_path, whisper_path

    if which == "whisper-base":
        return "whisper-base", assemble_whisper_base(models_dir)
    if which == "whisper-tiny.en":
        return "whisper-tiny.en", Path(whisper_path(PACKAGED_WHISPER, models_dir))
    if which == "llm":
        return "smollm2-135m-instruct", prepare_smollm2(models_dir)
    if which == "embedder":
        return PACKAGED_EMBEDDER, Path(embedder_path(PACKAGED_EMBEDDER))
    raise typer.BadParameter(f"--prepared is one of {_CHOICES}")
