"""The demo podcast's files, served only when ``settings.demo.enabled`` (development).

Audio and transcripts are the package data under ``tellmemore/ops/demo/``; a name is served only
when a
file of that name is in its folder, so no path a client sends reaches the filesystem.
Starlette's ``FileResponse`` answers HEAD and single or multiple byte ranges, as podcast
players expect of an enclosure.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from tellmemore.errors import CatalogError, ErrorKind
from tellmemore.ops import render_demo_feed

router = APIRouter(prefix="/demo", tags=["demo"], include_in_schema=False)

_MEDIA_TYPES = {
    "audio": {".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".opus": "audio/ogg"},
    "transcripts": {".vtt": "text/vtt"},
}
# The files change only when scripts/make_demo_audio.py is rerun.
_CACHE = {"Cache-Control": "public, max-age=3600"}


def _demo_file(folder: str, name: str) -> tuple[Path, str]:
    """The packaged file ``folder/name`` and its media type, or a 404 ``demo_file_not_found``."""
    root = resources.files("tellmemore.ops.demo").joinpath(folder)
    if not isinstance(root, Path):
        raise RuntimeError(
            "tellmemore.ops.demo must be installed as plain files to serve its demo files."
        )
    types = _MEDIA_TYPES[folder]
    for entry in root.iterdir() if root.is_dir() else ():
        if entry.name == name and entry.suffix in types and entry.is_file():
            return entry, types[entry.suffix]
    raise CatalogError(
        "demo_file_not_found",
        f"The demo podcast has no file {folder}/{name}.",
        ErrorKind.NOT_FOUND,
        details={"name": name},
    )


@router.get("/feed.xml")
async def demo_feed(request: Request) -> Response:
    return Response(
        render_demo_feed(str(request.base_url)), media_type="application/rss+xml; charset=utf-8"
    )


@router.api_route("/audio/{name}", methods=["GET", "HEAD"])
async def demo_audio(name: str) -> FileResponse:
    path, media_type = _demo_file("audio", name)
    return FileResponse(path, media_type=media_type, headers=_CACHE)


@router.api_route("/transcripts/{name}", methods=["GET", "HEAD"])
async def demo_transcript(name: str) -> FileResponse:
    path, media_type = _demo_file("transcripts", name)
    return FileResponse(path, media_type=media_type, headers=_CACHE)
