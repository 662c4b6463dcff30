"""Playlists: create, list, read (by id, or by share link without signing in), edit, export.

A playlist the caller may not see answers 404 ``playlist_not_found``, exactly like one that
does not exist. Reads carry the playlist's ``version`` as the ``ETag``; an edit sent with an
``If-Match`` that no longer holds answers 412 ``playlist_changed`` with the current ETag.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, PageDep, ServicesDep, get_principal
from api.playlist_schemas import (
    ItemIn,
    ItemOut,
    ItemPatchIn,
    PlaylistIn,
    PlaylistOut,
    PlaylistPage,
    PlaylistPatchIn,
    PlaylistSummaryOut,
)
from api.schemas import ERROR_RESPONSES, ErrorOut
from tellmemore.accounts import Principal
from tellmemore.playlists import NewItem, PlaylistContents, Playlists, export
from tellmemore.wiring import Services

router = APIRouter(
    tags=["playlists"],
    responses={
        **ERROR_RESPONSES,
        403: {"model": ErrorOut, "description": "A public playlist someone else owns"},
        412: {"model": ErrorOut, "description": "If-Match no longer holds (playlist_changed)"},
    },
)


async def get_playlists(request: Request) -> Playlists:
    services: Services = request.app.state.services
    return services.playlists


async def get_viewer(request: Request) -> Principal | None:
    """The caller when a token is sent (a bad one is still 401), None when anonymous."""
    if "authorization" not in request.headers:
        return None
    return await get_principal(request)


_TAG = re.compile(r'^(?:W/)?"(\d{1,9})"$', re.ASCII)


async def get_if_match(
    if_match: Annotated[
        str | None,
        Header(description='The ETag of the version the edit is based on, e.g. `"7"`.'),
    ] = None,
) -> frozenset[int] | None:
    """The versions ``If-Match`` accepts (None: no condition). Weak tags are taken as well,
    since compressing proxies weaken ETags on the way out; a malformed tag matches nothing."""
    if if_match is None or if_match.strip() == "*":
        return None
    tags = (_TAG.match(tag.strip()) for tag in if_match.split(","))
    return frozenset(int(match[1]) for match in tags if match)


PlaylistsDep = Annotated[Playlists, Depends(get_playlists)]
Viewer = Annotated[Principal | None, Depends(get_viewer)]
IfMatch = Annotated[frozenset[int] | None, Depends(get_if_match)]
SkipHeard = Annotated[
    bool | None,
    Query(description="Leave out what I have heard (default: the playlist's setting, for me "
          "as its owner)."),
]  # fmt: skip
ExportFormat = Annotated[Literal["json", "m3u", "rss"], Query(alias="format")]
ShareToken = Annotated[str, Path(min_length=1, max_length=200)]


def etag(version: int) -> str:
    return f'"{version}"'


def _user_id(principal: Principal | None) -> UUID | None:
    return principal.user.id if principal else None


def _read_headers(response: Response, contents: PlaylistContents) -> None:
    response.headers["ETag"] = etag(contents.playlist.version)
    public = contents.playlist.visibility == "public"
    response.headers["Cache-Control"] = "no-cache" if public else "private, no-store"


@router.post(
    "/playlists",
    response_model=PlaylistSummaryOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a playlist",
)
async def create_playlist(
    body: PlaylistIn, principal: CurrentUser, playlists: PlaylistsDep, response: Response
) -> PlaylistSummaryOut:
    created = await playlists.create(
        principal.user.id, title=body.title, description=body.description,
        visibility=body.visibility, skip_heard=body.skip_heard,
    )  # fmt: skip
    response.headers["Location"] = f"/playlists/{created.id}"
    response.headers["ETag"] = etag(created.version)
    return PlaylistSummaryOut.of(created, principal.user.id)


@router.get("/me/playlists", response_model=PlaylistPage, summary="My playlists, newest first")
async def list_my_playlists(
    principal: CurrentUser,
    playlists: PlaylistsDep,
    page: PageDep,
    kind: Literal["manual", "topic"] | None = None,
) -> PlaylistPage:
    found = await playlists.list_mine(
        principal.user.id, limit=page.limit, cursor=page.cursor, kind=kind
    )
    items = [PlaylistSummaryOut.of(p, principal.user.id) for p in found.items]
    return PlaylistPage(items=items, next_cursor=found.next_cursor)


@router.get("/playlists/public", response_model=PlaylistPage, summary="Public playlists")
async def list_public_playlists(
    playlists: PlaylistsDep, page: PageDep, viewer: Viewer
) -> PlaylistPage:
    found = await playlists.list_public(limit=page.limit, cursor=page.cursor)
    items = [PlaylistSummaryOut.of(p, _user_id(viewer)) for p in found.items]
    return PlaylistPage(items=items, next_cursor=found.next_cursor)


@router.get(
    "/playlists/{playlist_id}",
    response_model=PlaylistOut,
    summary="A playlist with its items (mine, or a public one)",
)
async def get_playlist(
    playlist_id: UUID,
    playlists: PlaylistsDep,
    viewer: Viewer,
    response: Response,
    skip_heard: SkipHeard = None,
) -> PlaylistOut:
    contents = await playlists.get(playlist_id, viewer=_user_id(viewer), skip_heard=skip_heard)
    _read_headers(response, contents)
    return PlaylistOut.of_contents(contents, _user_id(viewer))


@router.get(
    "/shared/playlists/{share_token}",
    response_model=PlaylistOut,
    summary="A playlist by its share link (no sign-in needed)",
)
async def get_shared_playlist(
    share_token: ShareToken,
    playlists: PlaylistsDep,
    viewer: Viewer,
    response: Response,
    skip_heard: SkipHeard = None,
) -> PlaylistOut:
    contents = await playlists.get_shared(
        share_token, viewer=_user_id(viewer), skip_heard=skip_heard
    )
    _read_headers(response, contents)
    return PlaylistOut.of_contents(contents, _user_id(viewer))


@router.patch("/playlists/{playlist_id}", response_model=PlaylistSummaryOut, summary="Change it")
async def update_playlist(
    playlist_id: UUID,
    body: PlaylistPatchIn,
    principal: CurrentUser,
    playlists: PlaylistsDep,
    if_match: IfMatch,
    response: Response,
) -> PlaylistSummaryOut:
    updated = await playlists.update(
        playlist_id, principal.user.id, title=body.title, description=body.description,
        clear_description="description" in body.model_fields_set and body.description is None,
        visibility=body.visibility, skip_heard=body.skip_heard, if_match=if_match,
    )  # fmt: skip
    response.headers["ETag"] = etag(updated.version)
    return PlaylistSummaryOut.of(updated, principal.user.id)


@router.delete(
    "/playlists/{playlist_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete it"
)
async def delete_playlist(
    playlist_id: UUID, principal: CurrentUser, playlists: PlaylistsDep, if_match: IfMatch
) -> None:
    await playlists.delete(playlist_id, principal.user.id, if_match=if_match)


@router.post(
    "/playlists/{playlist_id}/share-token",
    response_model=PlaylistSummaryOut,
    summary="A new share link (the old one stops working)",
)
async def regenerate_share_token(
    playlist_id: UUID,
    principal: CurrentUser,
    playlists: PlaylistsDep,
    if_match: IfMatch,
    response: Response,
) -> PlaylistSummaryOut:
    updated = await playlists.regenerate_share_token(
        playlist_id, principal.user.id, if_match=if_match
    )
    response.headers["ETag"] = etag(updated.version)
    return PlaylistSummaryOut.of(updated, principal.user.id)


@router.post(
    "/playlists/{playlist_id}/items",
    response_model=ItemOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a whole episode or a time range of one",
    description="Appended, or inserted at `position` (0..item count; the items from there on "
    "move down one).",
)
async def add_item(
    playlist_id: UUID,
    body: ItemIn,
    principal: CurrentUser,
    playlists: PlaylistsDep,
    if_match: IfMatch,
    response: Response,
) -> ItemOut:
    new = NewItem(episode_id=body.episode_id, start_s=body.start_s, end_s=body.end_s,
                  note=body.note)  # fmt: skip
    edit = await playlists.add_item(
        playlist_id, principal.user.id, new, position=body.position, if_match=if_match
    )
    response.headers["ETag"] = etag(edit.version)
    return ItemOut.model_validate(edit.item)


@router.patch(
    "/playlists/{playlist_id}/items/{item_id}",
    response_model=ItemOut,
    summary="Move an item and/or change its note",
)
async def edit_item(
    playlist_id: UUID,
    item_id: UUID,
    body: ItemPatchIn,
    principal: CurrentUser,
    playlists: PlaylistsDep,
    if_match: IfMatch,
    response: Response,
) -> ItemOut:
    edit = await playlists.edit_item(
        playlist_id, item_id, principal.user.id, position=body.position, note=body.note,
        clear_note="note" in body.model_fields_set and body.note is None, if_match=if_match,
    )  # fmt: skip
    response.headers["ETag"] = etag(edit.version)
    return ItemOut.model_validate(edit.item)


@router.delete(
    "/playlists/{playlist_id}/items/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove an item (the ones after it move up)",
)
async def remove_item(
    playlist_id: UUID,
    item_id: UUID,
    principal: CurrentUser,
    playlists: PlaylistsDep,
    if_match: IfMatch,
    response: Response,
) -> None:
    version = await playlists.remove_item(
        playlist_id, item_id, principal.user.id, if_match=if_match
    )
    response.headers["ETag"] = etag(version)


# ---- export ---------------------------------------------------------------------------------

_EXPORT_DOC = (
    "`json`: a versioned document (`tellmemore.playlist/1`); `m3u`: an extended M3U playlist "
    "(ranges as VLC start/stop options and `#t=` media fragments); `rss`: a podcast feed to "
    "subscribe to (ranges as `podcast:soundbite`)."
)
_EXPORT_TYPES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The playlist in the asked format",
        "content": {"application/json": {}, export.M3U_MEDIA_TYPE: {}, export.RSS_MEDIA_TYPE: {}},
    }
}


def _export(
    contents: PlaylistContents, fmt: str, *, link: str, request: Request, services: Services
) -> Response:
    playlist, items = contents.playlist, contents.items
    response: Response
    if fmt == "m3u":
        disposition = f'attachment; filename="{export.filename(playlist, "m3u")}"'
        response = Response(
            export.to_m3u(playlist, items),
            media_type=export.M3U_MEDIA_TYPE,
            headers={"Content-Disposition": disposition},
        )
    elif fmt == "rss":
        body = export.to_rss(
            playlist, items, link=link, self_url=str(request.url), built_at=services.clock()
        )
        response = Response(body, media_type=export.RSS_MEDIA_TYPE)
    else:
        response = JSONResponse(export.to_json(playlist, items, exported_at=services.clock()))
    _read_headers(response, contents)
    return response


@router.get(
    "/playlists/{playlist_id}/export",
    summary="Export a playlist as JSON, M3U or a podcast RSS feed",
    description=_EXPORT_DOC,
    response_class=Response,
    responses=_EXPORT_TYPES,
)
async def export_playlist(
    playlist_id: UUID,
    request: Request,
    playlists: PlaylistsDep,
    services: ServicesDep,
    viewer: Viewer,
    fmt: ExportFormat = "json",
    skip_heard: SkipHeard = None,
) -> Response:
    contents = await playlists.get(playlist_id, viewer=_user_id(viewer), skip_heard=skip_heard)
    link = str(request.url_for("get_playlist", playlist_id=playlist_id))
    return _export(contents, fmt, link=link, request=request, services=services)


@router.get(
    "/shared/playlists/{share_token}/export",
    summary="Export a playlist by its share link",
    description=_EXPORT_DOC,
    response_class=Response,
    responses=_EXPORT_TYPES,
)
async def export_shared_playlist(
    share_token: ShareToken,
    request: Request,
    playlists: PlaylistsDep,
    services: ServicesDep,
    viewer: Viewer,
    fmt: ExportFormat = "json",
    skip_heard: SkipHeard = None,
) -> Response:
    contents = await playlists.get_shared(
        share_token, viewer=_user_id(viewer), skip_heard=skip_heard
    )
    link = str(request.url_for("get_shared_playlist", share_token=share_token))
    return _export(contents, fmt, link=link, request=request, services=services)
