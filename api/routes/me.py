"""The signed-in user: profile, password, sessions, subscriptions, GDPR export and deletion.

Everything here is the caller's own: ids in paths are looked up within the caller's data, so
another user's id answers 404 exactly like an id that does not exist. The account itself and
its credentials (profile changes, password, sessions, export, deletion) need a signed-in
session: an API key gets ``403 session_required`` there.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, BackgroundTasks, Response, status

from api.account_schemas import (
    DeleteAccountIn,
    PasswordChangeIn,
    ProfileIn,
    SessionOut,
    SubscribedOut,
    SubscriptionOut,
    UserOut,
)
from api.deps import AccountsDep, AuthDep, CurrentUser, ServicesDep, SessionUser
from api.routes.verification import mail_verification_link
from api.schemas import ERROR_RESPONSES

router = APIRouter(prefix="/me", tags=["me"], responses=ERROR_RESPONSES)


@router.get("", response_model=UserOut, summary="My profile")
async def get_me(principal: CurrentUser) -> UserOut:
    return UserOut.model_validate(principal.user)


@router.patch("", response_model=UserOut, summary="Change my profile")
async def update_me(
    body: ProfileIn, principal: SessionUser, services: ServicesDep, background: BackgroundTasks
) -> UserOut:
    user = await services.accounts.update_profile(
        principal,
        display_name=body.display_name,
        clear_display_name="display_name" in body.model_fields_set and body.display_name is None,
        email=body.email,
        current_password=body.current_password,
    )
    if user.email != principal.user.email:  # a new address is verified by its own link
        mail_verification_link(background, services, user)
    return UserOut.model_validate(user)


@router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change my password (ends my other sessions)",
)
async def change_password(body: PasswordChangeIn, principal: SessionUser, auth: AuthDep) -> None:
    await auth.change_password(principal, body.current_password, body.new_password)


@router.get("/sessions", response_model=list[SessionOut], summary="My sessions (devices)")
async def list_sessions(principal: SessionUser, accounts: AccountsDep) -> list[SessionOut]:
    return [
        SessionOut.model_validate(s).model_copy(update={"current": s.id == principal.session_id})
        for s in await accounts.sessions(principal)
    ]


@router.delete(
    "/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End one of my sessions",
)
async def revoke_session(session_id: UUID, principal: SessionUser, accounts: AccountsDep) -> None:
    await accounts.revoke_session(principal, session_id)


@router.get(
    "/subscriptions", response_model=list[SubscriptionOut], summary="Podcasts I subscribe to"
)
async def list_subscriptions(
    principal: CurrentUser, accounts: AccountsDep
) -> list[SubscriptionOut]:
    return [SubscriptionOut.model_validate(s) for s in await accounts.subscriptions(principal)]


@router.put(
    "/subscriptions/{podcast_id}",
    response_model=SubscribedOut,
    summary="Subscribe to a catalog podcast (idempotent: 201 new, 200 already)",
    responses={201: {"model": SubscribedOut, "description": "Subscribed now"}},
)
async def subscribe(
    podcast_id: UUID, principal: CurrentUser, accounts: AccountsDep, response: Response
) -> SubscribedOut:
    created = await accounts.subscribe(principal, podcast_id)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return SubscribedOut(podcast_id=podcast_id, subscribed=True, created=created)


@router.delete(
    "/subscriptions/{podcast_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Unsubscribe",
)
async def unsubscribe(podcast_id: UUID, principal: CurrentUser, accounts: AccountsDep) -> None:
    await accounts.unsubscribe(principal, podcast_id)


@router.get("/export", summary="Everything stored about me, as one JSON document (GDPR)")
async def export_me(principal: SessionUser, services: ServicesDep) -> dict[str, Any]:
    exported = await services.accounts.export(principal)
    return {**exported, "api_keys": await services.api_keys.export(principal.user.id)}


@router.delete(
    "",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete my account and all of its data (GDPR)",
    description="Needs the password in the body. Removes the account, its sessions, tokens and "
    "API keys, its subscriptions and every Redis key of it.",
)
async def delete_me(body: DeleteAccountIn, principal: SessionUser, accounts: AccountsDep) -> None:
    await accounts.delete(principal, body.password)
