"""The podcast catalog: add (feed URL or Apple id), list, get, refresh, list episodes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from api.deps import AccountsDep, CatalogDep, CurrentUser, PageDep
from api.schemas import (
    ERROR_RESPONSES,
    AddPodcastIn,
    AddPodcastOut,
    EpisodeOut,
    EpisodePage,
    PodcastOut,
    PodcastPage,
    RefreshOut,
)
from api.viewer import Viewer

router = APIRouter(prefix="/podcasts", tags=["podcasts"])


@router.post(
    "",
    response_model=AddPodcastOut,
    status_code=status.HTTP_201_CREATED,
    summary="Subscribe to a podcast by feed URL or Apple id",
    description="A podcast new to the catalog is fetched and parsed (following "
    "`itunes:new-feed-url` and permanent redirects) and stored with its episodes (201). One "
    "already in the catalog — found by any URL it has had, or its Apple id — is not fetched "
    "again (200). Either way the caller is subscribed; if they already were, 409 "
    "`already_subscribed` with the podcast's id. A feed URL with credentials (a token in the "
    "query, `user:password@`, a premium host's subscriber URL), or `private: true`, makes the "
    "podcast private: only listeners who add that exact URL see it, its episodes and passages.",
    responses={**ERROR_RESPONSES, 200: {"model": AddPodcastOut, "description": "Subscribed"}},
)
async def add_podcast(
    body: AddPodcastIn,
    principal: CurrentUser,
    catalog: CatalogDep,
    accounts: AccountsDep,
    response: Response,
) -> AddPodcastOut:
    podcast_id, added = await accounts.add_and_subscribe(
        principal, feed_url=body.feed_url, apple_id=body.apple_id, private=body.private
    )
    podcast = await catalog.get_podcast(podcast_id, viewer=principal.user.id)
    response.headers["Location"] = f"/podcasts/{podcast.id}"
    if added is None:
        response.status_code = status.HTTP_200_OK
    return AddPodcastOut(
        podcast=PodcastOut.model_validate(podcast),
        episodes_added=added.ingest.added if added else 0,
        subscribed=True,
    )


@router.get("", response_model=PodcastPage, responses=ERROR_RESPONSES, summary="List podcasts")
async def list_podcasts(
    catalog: CatalogDep,
    page: PageDep,
    viewer: Viewer,
    q: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Title/author contains")
    ] = None,
) -> PodcastPage:
    found = await catalog.list_podcasts(
        limit=page.limit, cursor=page.cursor, query=q, viewer=viewer
    )
    return PodcastPage(
        items=[PodcastOut.model_validate(p) for p in found.items], next_cursor=found.next_cursor
    )


@router.get("/{podcast_id}", response_model=PodcastOut, responses=ERROR_RESPONSES)
async def get_podcast(podcast_id: UUID, catalog: CatalogDep, viewer: Viewer) -> PodcastOut:
    return PodcastOut.model_validate(await catalog.get_podcast(podcast_id, viewer=viewer))


@router.post(
    "/{podcast_id}/refresh",
    response_model=RefreshOut,
    responses=ERROR_RESPONSES,
    summary="Fetch the feed again now",
    description="Conditional GET; an unchanged feed changes nothing. A failure is recorded on "
    "the podcast (`last_error_code`) and nothing stored is lost.",
)
async def refresh_podcast(
    podcast_id: UUID, principal: CurrentUser, catalog: CatalogDep
) -> RefreshOut:
    await catalog.get_podcast(podcast_id, viewer=principal.user.id)  # 404 unless visible
    result = await catalog.refresh(podcast_id)
    return RefreshOut(
        podcast_id=result.podcast_id,
        not_modified=result.not_modified,
        added=result.added,
        updated=result.updated,
        unchanged=result.unchanged,
    )


@router.get(
    "/{podcast_id}/episodes",
    response_model=EpisodePage,
    responses=ERROR_RESPONSES,
    summary="A podcast's episodes, newest first",
)
async def list_episodes(
    podcast_id: UUID,
    catalog: CatalogDep,
    page: PageDep,
    viewer: Viewer,
    published_since: Annotated[datetime | None, Query(description="Inclusive, ISO 8601")] = None,
    published_until: Annotated[datetime | None, Query(description="Exclusive, ISO 8601")] = None,
) -> EpisodePage:
    found = await catalog.list_episodes(
        podcast_id,
        viewer=viewer,
        limit=page.limit,
        cursor=page.cursor,
        published_since=published_since,
        published_until=published_until,
    )
    return EpisodePage(
        items=[EpisodeOut.model_validate(e) for e in found.items], next_cursor=found.next_cursor
    )
