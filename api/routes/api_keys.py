"""The signed-in user's API keys: make one (its secret shown once), list them, revoke one.

Only a signed-in session manages keys; a key presented here gets ``403 session_required``, so
a leaked key cannot make itself a successor. Another user's key id answers 404 like one that
does not exist.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, status

from api.api_key_schemas import ApiKeyIn, ApiKeyOut, NewApiKeyOut
from api.deps import ServicesDep, SessionUser
from api.schemas import ERROR_RESPONSES
from tellmemore.accounts import ApiKeys

router = APIRouter(prefix="/me/api-keys", tags=["me"], responses=ERROR_RESPONSES)


async def _keys(services: ServicesDep) -> ApiKeys:
    return services.api_keys


KeysDep = Annotated[ApiKeys, Depends(_keys)]


@router.post(
    "",
    response_model=NewApiKeyOut,
    status_code=status.HTTP_201_CREATED,
    summary="Make an API key (the key is in this answer only)",
    description="Scopes: `read` for GET routes, `write` for routes that change something, "
    "`llm` for `/llm/v1`. Needs a signed-in session, not another key.",
)
async def create_api_key(body: ApiKeyIn, principal: SessionUser, keys: KeysDep) -> NewApiKeyOut:
    key, secret = await keys.create(
        principal, name=body.name, scopes=body.scopes, expires_at=body.expires_at
    )
    return NewApiKeyOut(**ApiKeyOut.model_validate(key).model_dump(), key=secret)


@router.get("", response_model=list[ApiKeyOut], summary="My API keys (never their secrets)")
async def list_api_keys(principal: SessionUser, keys: KeysDep) -> list[ApiKeyOut]:
    return [ApiKeyOut.model_validate(k) for k in await keys.keys(principal)]


@router.delete(
    "/{key_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke one of my API keys"
)
async def revoke_api_key(key_id: UUID, principal: SessionUser, keys: KeysDep) -> None:
    await keys.revoke(principal, key_id)
