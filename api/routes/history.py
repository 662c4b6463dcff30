"""Listening history: what the signed-in user has heard, which playlists can then skip.

Everything here is the caller's own; a playlist item is marked heard only through a playlist
the caller may see (another user's private one answers 404).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, status

from api.deps import CurrentUser, PageDep, ServicesDep
from api.playlist_schemas import HeardIn, HistoryEntryOut, HistoryPage
from api.routes.playlists import PlaylistsDep
from api.schemas import ERROR_RESPONSES
from tellmemore.playlists import ListeningHistory


async def get_history(services: ServicesDep) -> ListeningHistory:
    return services.history


HistoryDep = Annotated[ListeningHistory, Depends(get_history)]

router = APIRouter(tags=["history"], responses=ERROR_RESPONSES)


@router.post(
    "/me/history",
    response_model=HistoryEntryOut,
    status_code=status.HTTP_201_CREATED,
    summary="I heard an episode (no times) or a time range of it",
)
async def record_heard(
    body: HeardIn, principal: CurrentUser, history: HistoryDep
) -> HistoryEntryOut:
    entry = await history.record_heard(
        principal.user.id, body.episode_id, start_s=body.start_s, end_s=body.end_s
    )
    return HistoryEntryOut.model_validate(entry)


@router.get("/me/history", response_model=HistoryPage, summary="What I heard, latest first")
async def list_history(principal: CurrentUser, history: HistoryDep, page: PageDep) -> HistoryPage:
    found = await history.history(principal.user.id, limit=page.limit, cursor=page.cursor)
    return HistoryPage(
        items=[HistoryEntryOut.model_validate(e) for e in found.items],
        next_cursor=found.next_cursor,
    )


@router.delete("/me/history", status_code=status.HTTP_204_NO_CONTENT, summary="Forget what I heard")
async def clear_history(principal: CurrentUser, history: HistoryDep) -> None:
    await history.clear_history(principal.user.id)


@router.post(
    "/playlists/{playlist_id}/items/{item_id}/heard",
    response_model=HistoryEntryOut,
    status_code=status.HTTP_201_CREATED,
    summary="I heard this playlist item",
)
async def mark_item_heard(
    playlist_id: UUID, item_id: UUID, principal: CurrentUser, playlists: PlaylistsDep
) -> HistoryEntryOut:
    entry = await playlists.mark_item_heard(playlist_id, item_id, principal.user.id)
    return HistoryEntryOut.model_validate(entry)
