"""Finding podcasts on Apple Podcasts before adding them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CatalogDep
from api.schemas import ERROR_RESPONSES, AppleResultOut

router = APIRouter(prefix="/discover", tags=["discovery"])


@router.get(
    "/apple",
    response_model=list[AppleResultOut],
    responses=ERROR_RESPONSES,
    summary="Search Apple Podcasts",
    description="Results are cached; Apple's throttling answers 503 `apple_throttled` with "
    "`Retry-After`. `podcast_id` is set for podcasts already in the catalog.",
)
async def search_apple(
    catalog: CatalogDep,
    term: Annotated[str, Query(min_length=1, max_length=200)],
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    country: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")] = None,
) -> list[AppleResultOut]:
    found = await catalog.search_apple(term, limit=limit, country=country)
    return [
        AppleResultOut.model_validate({**p.__dict__, "genres": list(p.genres), "podcast_id": pid})
        for p, pid in found
    ]
