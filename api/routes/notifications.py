"""What the signed-in user wants to hear from us: the topic playlist email digest."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import CurrentUser, ServicesDep
from api.schemas import ERROR_RESPONSES, In
from tellmemore.accounts.rows import users

router = APIRouter(prefix="/me/notifications", tags=["me"])


class NotificationsIn(In):
    email_digest: bool = Field(
        description="Email me what my topic playlists gained (at most once a day)."
    )


class NotificationsOut(BaseModel):
    email_digest: bool


@router.get("", response_model=NotificationsOut, responses=ERROR_RESPONSES)
async def get_notifications(principal: CurrentUser, services: ServicesDep) -> NotificationsOut:
    async with services.pool.connection() as conn:
        return NotificationsOut(email_digest=await users.email_digest(conn, principal.user.id))


@router.put("", response_model=NotificationsOut, responses=ERROR_RESPONSES)
async def put_notifications(
    body: NotificationsIn, principal: CurrentUser, services: ServicesDep
) -> NotificationsOut:
    async with services.pool.connection() as conn:
        await users.set_email_digest(conn, principal.user.id, body.email_digest)
    return NotificationsOut(email_digest=body.email_digest)
