"""Single episodes."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from api.deps import CatalogDep
from api.schemas import ERROR_RESPONSES, EpisodeOut

router = APIRouter(prefix="/episodes", tags=["episodes"])


@router.get("/{episode_id}", response_model=EpisodeOut, responses=ERROR_RESPONSES)
async def get_episode(episode_id: UUID, catalog: CatalogDep) -> EpisodeOut:
    return EpisodeOut.model_validate(await catalog.get_episode(episode_id))
