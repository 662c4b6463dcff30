"""OPML import and export."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.deps import AccountsDep, CatalogDep, CurrentUser
from api.schemas import ERROR_RESPONSES, ErrorDetail, OpmlImportOut, OpmlItemOut
from api.viewer import Viewer
from tellmemore.errors import CatalogError

router = APIRouter(prefix="/opml", tags=["opml"])

_OPML_TYPES = ("text/x-opml", "application/xml", "text/xml", "application/octet-stream")


@router.post(
    "/import",
    response_model=OpmlImportOut,
    responses=ERROR_RESPONSES,
    summary="Import an OPML subscription list",
    description="Send the OPML document as the request body. Every listed feed is added to the "
    "catalog (fetched if new) and the caller is subscribed to it; entries that cannot be used "
    "are reported one by one while the good ones import.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in _OPML_TYPES},
        }
    },
)
async def import_opml(
    request: Request, principal: CurrentUser, accounts: AccountsDep
) -> OpmlImportOut:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type not in _OPML_TYPES:
        raise CatalogError(
            "unsupported_media_type",
            f"Send the OPML file itself as the body (e.g. text/x-opml), not {content_type}.",
        )
    data = await request.body()  # bounded by the BodyLimit middleware (opml_max_bytes)
    if not data.strip():
        raise CatalogError("opml_empty", "The request body is empty; send the OPML file.")
    report = await accounts.import_opml(principal, data)
    return OpmlImportOut(
        created=report.count("created"),
        exists=report.count("exists"),
        failed=report.count("failed"),
        items=[
            OpmlItemOut(
                feed_url=i.feed_url,
                title=i.title,
                status=i.status,
                podcast_id=i.podcast_id,
                error=ErrorDetail(code=i.error_code, message=i.error or "")
                if i.error_code
                else None,
            )
            for i in report.items
        ],
    )


@router.get(
    "/export",
    summary="The catalog as OPML 2.0",
    description="The public catalog, plus the caller's own private feeds when signed in.",
    response_class=Response,
    responses={200: {"content": {"text/x-opml": {}}}},
)
async def export_opml(catalog: CatalogDep, viewer: Viewer) -> Response:
    return Response(
        await catalog.export_opml(viewer=viewer),
        media_type="text/x-opml; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="tellmemore.opml"'},
    )
