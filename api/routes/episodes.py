"""Single episodes: metadata with processing status and summary, and the transcript."""

from __future__ import annotations

import asyncio
import json
from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from api.deps import CatalogDep, ServicesDep
from api.schemas import ERROR_RESPONSES, EpisodeOut, SummaryOut
from api.viewer import Viewer
from models.captions import to_srt, to_vtt, transcript_from_dict
from tellmemore.errors import CatalogError, ErrorKind
from tellmemore.storage import StorageError

router = APIRouter(prefix="/episodes", tags=["episodes"])

_MEDIA = {
    "json": "application/json",
    "vtt": "text/vtt; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
}


def _not_ready(what: str, status: str) -> CatalogError:
    return CatalogError(
        f"{what}_not_ready",
        f"The episode has no {what} yet: it is {status}.",
        ErrorKind.CONFLICT,
        details={"status": status},
    )


@router.get("/{episode_id}", response_model=EpisodeOut, responses=ERROR_RESPONSES)
async def get_episode(episode_id: UUID, catalog: CatalogDep, viewer: Viewer) -> EpisodeOut:
    return EpisodeOut.model_validate(await catalog.get_episode(episode_id, viewer=viewer))


@router.get("/{episode_id}/summary", response_model=SummaryOut, responses=ERROR_RESPONSES)
async def get_summary(episode_id: UUID, catalog: CatalogDep, viewer: Viewer) -> SummaryOut:
    """The LLM's summary and topics, and chapters: the publisher's own when the feed offers
    usable ones, else the summarizer's (409 until the episode is processed)."""
    episode = await catalog.get_episode(episode_id, viewer=viewer)
    if episode.shown_summary is None:
        raise _not_ready("summary", episode.status)
    return SummaryOut.model_validate(episode.shown_summary)


@router.get(
    "/{episode_id}/transcript",
    responses={
        **ERROR_RESPONSES,
        200: {"content": {m.split(";")[0]: {} for m in _MEDIA.values()}},
    },
)
async def get_transcript(
    episode_id: UUID,
    services: ServicesDep,
    viewer: Viewer,
    request: Request,
    format: Literal["json", "vtt", "srt"] = Query(
        "json", description="json (segments with word timings), vtt or srt captions"
    ),
) -> Response:
    """The episode's transcript (409 until processed). It changes only when the episode is
    processed again, so it carries an ETag of that version: a player asking again with
    ``If-None-Match`` gets 304 without the document being read; JSON is sent as stored."""
    episode = await services.catalog.get_episode(episode_id, viewer=viewer)
    if episode.status != "done" or not episode.transcript_key:
        raise _not_ready("transcript", episode.status)
    version = episode.processed_at.timestamp() if episode.processed_at else 0
    headers = {"ETag": f'"{episode_id}-{version:.6f}-{format}"', "Cache-Control": "no-cache"}
    if headers["ETag"] in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    try:
        stored = await asyncio.to_thread(services.objects.get_bytes, episode.transcript_key)
    except StorageError as exc:
        raise CatalogError(
            "transcript_unavailable",
            "The transcript could not be read from storage right now; try again shortly.",
            ErrorKind.UNAVAILABLE,
        ) from exc
    if format == "json":
        return Response(stored, media_type=_MEDIA["json"], headers=headers)
    transcript = transcript_from_dict(json.loads(stored))
    body = to_vtt(transcript) if format == "vtt" else to_srt(transcript)
    return Response(body, media_type=_MEDIA[format], headers=headers)
