"""Register, log in, refresh, log out.

Each of the first three can hand the refresh token to a browser as an HttpOnly cookie instead of
in the body (``refresh_cookie: true``; api/refresh_cookie.py says why); API clients keep the body.
"""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request, Response, status

from api.account_schemas import LoginIn, RefreshIn, RegisterIn, RegisterOut, TokenOut, UserOut
from api.deps import AuthDep, ServicesDep, SessionUser, SettingsDep
from api.refresh_cookie import (
    clear_refresh_cookie,
    refresh_token_from_cookie,
    set_refresh_cookie,
)
from api.routes.verification import mail_verification_link
from api.schemas import ERROR_RESPONSES
from tellmemore.accounts import TokenPair
from tellmemore.settings import Settings

router = APIRouter(prefix="/auth", tags=["auth"])


def token_out(tokens: TokenPair) -> TokenOut:
    return TokenOut(
        access_token=tokens.access_token,
        expires_in=tokens.access_expires_in_s,
        refresh_token=tokens.refresh_token,
        refresh_expires_at=tokens.refresh_expires_at,
        session_id=tokens.session_id,
    )


def _deliver(
    tokens: TokenPair, in_cookie: bool, settings: Settings, request: Request, response: Response
) -> TokenOut:
    """The tokens as the body says: the refresh token in the JSON, or in the cookie only."""
    out = token_out(tokens)
    if in_cookie:
        set_refresh_cookie(response, tokens.refresh_token, settings, request)
        out.refresh_token = None
    return out


@router.post(
    "/register",
    response_model=RegisterOut,
    status_code=status.HTTP_201_CREATED,
    responses=ERROR_RESPONSES,
    summary="Create an account (and a first session)",
)
async def register(
    body: RegisterIn,
    services: ServicesDep,
    request: Request,
    response: Response,
    background: BackgroundTasks,
) -> RegisterOut:
    user, tokens = await services.auth.register(
        body.email, body.password, body.display_name, request.headers.get("user-agent")
    )
    mail_verification_link(background, services, user)
    out = _deliver(tokens, body.refresh_cookie, services.settings, request, response)
    return RegisterOut(user=UserOut.model_validate(user), tokens=out)


@router.post("/login", response_model=TokenOut, responses=ERROR_RESPONSES, summary="Log in")
async def login(
    body: LoginIn, auth: AuthDep, settings: SettingsDep, request: Request, response: Response
) -> TokenOut:
    tokens = await auth.login(body.email, body.password, request.headers.get("user-agent"))
    return _deliver(tokens, body.refresh_cookie, settings, request, response)


@router.post(
    "/refresh",
    response_model=TokenOut,
    responses=ERROR_RESPONSES,
    summary="Trade a refresh token for new tokens",
    description="The refresh token is single use. Presenting one that was already used ends "
    "that session (`refresh_token_reused`); the user's other sessions keep working. With "
    "`refresh_cookie: true` the token is read from the `tmm_refresh` cookie, which needs the "
    "header `X-TMM-CSRF: 1` (`csrf_header_required` otherwise), and the new one is set there.",
)
async def refresh(
    body: RefreshIn, auth: AuthDep, settings: SettingsDep, request: Request, response: Response
) -> TokenOut:
    token = refresh_token_from_cookie(request) if body.refresh_cookie else body.refresh_token
    assert token is not None  # RefreshIn holds one of the two
    return _deliver(await auth.refresh(token), body.refresh_cookie, settings, request, response)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ERROR_RESPONSES,
    summary="End this session (its refresh and access tokens stop working)",
    description="Also clears the `tmm_refresh` cookie.",
)
async def logout(
    principal: SessionUser,
    auth: AuthDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> None:
    await auth.logout(principal)
    clear_refresh_cookie(response, settings, request)
