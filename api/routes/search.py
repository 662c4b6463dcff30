"""Search: passages ("where is X discussed"), episodes ("episodes about X"), "more like this"."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel

from api.deps import ServicesDep
from api.schemas import ERROR_RESPONSES
from api.search_schemas import (
    EpisodeHitOut,
    EpisodeResults,
    HighlightOut,
    SegmentHitOut,
    SegmentResults,
)
from api.viewer import Viewer
from tellmemore.catalog import Viewer as CatalogViewer
from tellmemore.catalog.rows import episodes as episode_rows
from tellmemore.errors import CatalogError, ErrorKind
from tellmemore.search import (
    Highlight,
    SearchFilters,
    SearchMode,
    SegmentHit,
    marked_html,
    timing,
)
from tellmemore.wiring import Services

router = APIRouter(tags=["search"])

_COMMON = {"q", "mode", "limit", "podcast_id", "published_after", "published_before"}
_SEGMENT_PARAMS = _COMMON | {"min_duration_s", "max_duration_s"}


async def _start_timing() -> None:
    """Opens the request's stage times (the first dependency, so they cover the others)."""
    timing.start()


_TIMED = Depends(_start_timing)


def timed_json(results: BaseModel) -> Response:
    """``results`` as the JSON response, serialised here (timed as ``serialise``) with the
    request's stage times in a ``Server-Timing`` header: where a search's time went, as the
    server measured it."""
    with timing.stage("serialise"):
        body = results.model_dump_json()
    times = timing.current()
    headers = {"server-timing": times.header()} if times is not None else None
    return Response(content=body, media_type="application/json", headers=headers)


def only_params(allowed: set[str]) -> Any:
    """Refuse query parameters the route does not know: a misspelt filter must not silently
    widen a search."""

    async def check(request: Request) -> None:
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            raise CatalogError(
                "unknown_parameter",
                f"Unknown query parameter(s): {', '.join(unknown)}. "
                f"Known: {', '.join(sorted(allowed))}.",
                details={"unknown": unknown, "known": sorted(allowed)},
            )

    return Depends(check)


Q = Annotated[str, Query(description="What to look for, in your own words.", max_length=10_000)]
Mode = Annotated[
    SearchMode,
    Query(description="`hybrid` (default), `semantic` (meaning) or `fulltext` (words)."),
]
Limit = Annotated[int | None, Query(description="How many results (server maximum applies).")]
Podcasts = Annotated[
    list[UUID] | None,
    Query(alias="podcast_id", description="Only these podcasts (repeat the parameter)."),
]
After = Annotated[datetime | None, Query(description="Published at or after (ISO 8601).")]
Before = Annotated[datetime | None, Query(description="Published before (ISO 8601).")]


def filters_of(
    podcast_ids: Sequence[UUID] | None,
    published_after: datetime | None,
    published_before: datetime | None,
    min_duration_s: float | None = None,
    max_duration_s: float | None = None,
) -> SearchFilters:
    for name, value in (("published_after", published_after),
                        ("published_before", published_before)):  # fmt: skip
        if value is not None and value.tzinfo is None:
            raise CatalogError(
                "invalid_filter",
                f"{name} needs a time zone (e.g. 2026-01-01T00:00:00Z).",
                details={"field": name},
            )
    if published_after and published_before and published_after >= published_before:
        raise CatalogError(
            "invalid_filter", "published_after must be earlier than published_before."
        )
    if (
        min_duration_s is not None
        and max_duration_s is not None
        and min_duration_s > max_duration_s
    ):
        raise CatalogError("invalid_filter", "min_duration_s is larger than max_duration_s.")
    return SearchFilters(
        podcast_ids=tuple(str(p) for p in podcast_ids or ()),
        published_after=published_after,
        published_before=published_before,
        min_duration_s=min_duration_s,
        max_duration_s=max_duration_s,
    )


async def for_viewer(
    services: Services, viewer: CatalogViewer, filters: SearchFilters
) -> SearchFilters:
    """``filters`` that also leave out the private podcasts ``viewer`` does not subscribe to:
    their passages, episodes and audio URLs are found by their subscribers only."""
    with timing.stage("visibility"):
        hidden = await services.catalog.hidden_podcasts(viewer)
    return replace(filters, exclude_podcast_ids=hidden) if hidden else filters


def highlight_out(h: Highlight) -> HighlightOut:
    return HighlightOut(snippet=h.snippet, marks=list(h.marks), html=marked_html(h))


async def audio_urls(services: Services, episode_ids: Iterable[str]) -> dict[str, str]:
    ids = sorted({UUID(e) for e in episode_ids})
    with timing.stage("audio_urls"):
        async with services.pool.connection() as conn:
            found = await episode_rows.enclosures(conn, ids)
    return {str(k): v for k, v in found.items()}


def media_fragment(url: str | None, start_s: float, end_s: float | None = None) -> str | None:
    """``url#t=start[,end]`` (W3C Media Fragments): players and browsers seek there."""
    if url is None:
        return None
    base = url.split("#", 1)[0]
    fragment = f"t={start_s:g}" if end_s is None else f"t={start_s:g},{end_s:g}"
    return f"{base}#{fragment}"


def segment_out(hit: SegmentHit, audio: dict[str, str]) -> SegmentHitOut:
    deep = hit.highlight.offset_s if hit.highlight else hit.start_s
    return SegmentHitOut(
        segment_id=hit.segment_id,
        episode_id=hit.episode_id,
        podcast_id=hit.podcast_id,
        episode_title=hit.episode_title,
        podcast_title=hit.podcast_title,
        published_at=hit.published_at,
        start_s=hit.start_s,
        end_s=hit.end_s,
        text=hit.text,
        highlight=highlight_out(hit.highlight) if hit.highlight else None,
        deep_link_s=deep,
        audio_url=media_fragment(audio.get(hit.episode_id), deep),
        score=hit.score,
        similarity=hit.similarity,
        semantic_rank=hit.semantic_rank,
        fulltext_rank=hit.fulltext_rank,
    )


@router.get(
    "/search",
    response_model=SegmentResults,
    responses=ERROR_RESPONSES,
    summary="Find the passages where a topic is discussed",
    description="Hybrid search (semantic + full-text, fused by reciprocal rank) over every "
    "processed episode's transcript passages. Each result carries the passage's times, the "
    "matching sentences marked, and `deep_link_s`/`audio_url` to start listening there.",
    dependencies=[_TIMED, only_params(_SEGMENT_PARAMS)],
)
async def search_segments(
    services: ServicesDep,
    viewer: Viewer,
    q: Q,
    mode: Mode = SearchMode.HYBRID,
    limit: Limit = None,
    podcast_ids: Podcasts = None,
    published_after: After = None,
    published_before: Before = None,
    min_duration_s: Annotated[float | None, Query(ge=0, le=86_400)] = None,
    max_duration_s: Annotated[float | None, Query(gt=0, le=86_400)] = None,
) -> Response:
    filters = filters_of(
        podcast_ids, published_after, published_before, min_duration_s, max_duration_s
    )
    filters = await for_viewer(services, viewer, filters)
    hits = await services.search.segments(q, filters=filters, mode=mode, limit=limit)
    audio = await audio_urls(services, (h.episode_id for h in hits))
    with timing.stage("serialise"):
        results = SegmentResults(
            query=" ".join(q.split()),
            mode=mode.value,
            results=[segment_out(h, audio) for h in hits],
        )
    return timed_json(results)


@router.get(
    "/search/episodes",
    response_model=EpisodeResults,
    responses=ERROR_RESPONSES,
    summary="Find episodes about a topic (by their summaries)",
    dependencies=[_TIMED, only_params(_COMMON)],
)
async def search_episodes(
    services: ServicesDep,
    viewer: Viewer,
    q: Q,
    mode: Mode = SearchMode.HYBRID,
    limit: Limit = None,
    podcast_ids: Podcasts = None,
    published_after: After = None,
    published_before: Before = None,
) -> Response:
    filters = await for_viewer(
        services, viewer, filters_of(podcast_ids, published_after, published_before)
    )
    hits = await services.search.episodes(q, filters=filters, mode=mode, limit=limit)
    results = EpisodeResults(
        query=" ".join(q.split()),
        mode=mode.value,
        results=[
            EpisodeHitOut(
                episode_id=h.episode_id,
                podcast_id=h.podcast_id,
                episode_title=h.episode_title,
                podcast_title=h.podcast_title,
                published_at=h.published_at,
                summary=h.summary,
                topics=list(h.topics),
                score=h.score,
                similarity=h.similarity,
                semantic_rank=h.semantic_rank,
                fulltext_rank=h.fulltext_rank,
            )
            for h in hits
        ],
    )
    return timed_json(results)


@router.get(
    "/segments/{segment_id}/similar",
    response_model=SegmentResults,
    responses=ERROR_RESPONSES,
    summary="More like this passage, from other episodes",
    dependencies=[
        _TIMED,
        only_params({"limit", "podcast_id", "published_after", "published_before"}),
    ],
)
async def more_like_segment(
    segment_id: Annotated[str, Path(max_length=200)],
    services: ServicesDep,
    viewer: Viewer,
    limit: Limit = None,
    podcast_ids: Podcasts = None,
    published_after: After = None,
    published_before: Before = None,
) -> Response:
    filters = await for_viewer(
        services, viewer, filters_of(podcast_ids, published_after, published_before)
    )
    if filters.exclude_podcast_ids:  # a hidden podcast's passage is as unknown as a missing one
        source = await services.search.engine.segment(segment_id)
        if source is not None and source.podcast_id in filters.exclude_podcast_ids:
            raise CatalogError(
                "segment_not_found", "There is no passage with that id.", ErrorKind.NOT_FOUND
            )
    hits = await services.search.more_like(segment_id, filters=filters, limit=limit)
    audio = await audio_urls(services, (h.episode_id for h in hits))
    return timed_json(
        SegmentResults(
            query=segment_id, mode="similar", results=[segment_out(h, audio) for h in hits]
        )
    )
