""" "Tell me more": a topic and a length in, a playlist of the right minutes across shows out."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import CurrentUser, ServicesDep
from api.routes.search import audio_urls, filters_of, for_viewer, highlight_out, media_fragment
from api.schemas import ERROR_RESPONSES
from api.search_schemas import TellMeMoreIn, TellMeMoreItemOut, TellMeMoreOut

router = APIRouter(tags=["tell me more"])


@router.post(
    "/tell-me-more",
    response_model=TellMeMoreOut,
    status_code=status.HTTP_201_CREATED,
    responses={**ERROR_RESPONSES, 200: {"model": TellMeMoreOut, "description": "Not saved"}},
    summary="Build a playlist of the minutes where a topic is discussed",
    description="Relevant passages (hybrid search) chosen for diversity across episodes and "
    "shows (maximal marginal relevance, no near-duplicates), adjacent passages of one episode "
    "merged, up to about `minutes` long, each with the episode's summary and the passage that "
    "matched. With `save` (default) it becomes a topic playlist (201, `Location`) that grows as "
    "new episodes are processed; `shortfall` says when the catalog had fewer relevant minutes.",
)
async def tell_me_more(
    body: TellMeMoreIn, principal: CurrentUser, services: ServicesDep, response: Response
) -> TellMeMoreOut:
    topics = services.topics
    filters = filters_of(
        body.filters.podcast_ids,
        body.filters.published_after,
        body.filters.published_before,
        body.filters.min_duration_s,
        body.filters.max_duration_s,
    )
    user_id = principal.user.id
    # The database's time before the search, never the app's: the first refresh starts there.
    as_of = await topics.checkpoint() if body.save else None
    plan = await topics.planner.plan(
        body.topic,
        body.minutes,
        filters=await for_viewer(services, user_id, filters),
        heard=topics.heard_for(user_id) if body.skip_heard else None,
    )
    playlist_id = None
    if as_of is not None:
        playlist = await topics.save(
            user_id,
            plan,
            title=body.title,
            filters=filters,
            minutes=body.minutes,
            skip_heard=body.skip_heard,
            as_of=as_of,
        )
        playlist_id = str(playlist.id)
        response.headers["Location"] = f"/playlists/{playlist.id}"
    else:
        response.status_code = status.HTTP_200_OK
    audio = await audio_urls(services, (i.episode_id for i in plan.items))
    return TellMeMoreOut(
        topic=plan.topic,
        target_minutes=body.minutes,
        total_minutes=round(plan.total_s / 60.0, 2),
        shortfall=plan.shortfall,
        playlist_id=playlist_id,
        items=[
            TellMeMoreItemOut(
                episode_id=i.episode_id,
                podcast_id=i.podcast_id,
                episode_title=i.episode_title,
                podcast_title=i.podcast_title,
                start_s=i.start_s,
                end_s=i.end_s,
                segment_ids=list(i.segment_ids),
                summary=i.summary,
                reason=highlight_out(i.reason),
                similarity=round(i.similarity, 4),
                audio_url=media_fragment(audio.get(i.episode_id), i.start_s, i.end_s),
            )
            for i in plan.items
        ],
    )
