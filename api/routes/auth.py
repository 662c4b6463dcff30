"""Register, log in, refresh, log out."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request, status

from api.account_schemas import LoginIn, RefreshIn, RegisterIn, RegisterOut, TokenOut, UserOut
from api.deps import AuthDep, ServicesDep, SessionUser
from api.routes.verification import mail_verification_link
from api.schemas import ERROR_RESPONSES
from tellmemore.accounts import TokenPair

router = APIRouter(prefix="/auth", tags=["auth"])


def token_out(tokens: TokenPair) -> TokenOut:
    return TokenOut(
        access_token=tokens.access_token,
        expires_in=tokens.access_expires_in_s,
        refresh_token=tokens.refresh_token,
        refresh_expires_at=tokens.refresh_expires_at,
        session_id=tokens.session_id,
    )


@router.post(
    "/register",
    response_model=RegisterOut,
    status_code=status.HTTP_201_CREATED,
    responses=ERROR_RESPONSES,
    summary="Create an account (and a first session)",
)
async def register(
    body: RegisterIn, services: ServicesDep, request: Request, background: BackgroundTasks
) -> RegisterOut:
    user, tokens = await services.auth.register(
        body.email, body.password, body.display_name, request.headers.get("user-agent")
    )
    mail_verification_link(background, services, user)
    return RegisterOut(user=UserOut.model_validate(user), tokens=token_out(tokens))


@router.post("/login", response_model=TokenOut, responses=ERROR_RESPONSES, summary="Log in")
async def login(body: LoginIn, auth: AuthDep, request: Request) -> TokenOut:
    return token_out(await auth.login(body.email, body.password, request.headers.get("user-agent")))


@router.post(
    "/refresh",
    response_model=TokenOut,
    responses=ERROR_RESPONSES,
    summary="Trade a refresh token for new tokens",
    description="The refresh token is single use. Presenting one that was already used ends "
    "that session (`refresh_token_reused`); the user's other sessions keep working.",
)
async def refresh(body: RefreshIn, auth: AuthDep) -> TokenOut:
    return token_out(await auth.refresh(body.refresh_token))


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ERROR_RESPONSES,
    summary="End this session (its refresh and access tokens stop working)",
)
async def logout(principal: SessionUser, auth: AuthDep) -> None:
    await auth.logout(principal)
