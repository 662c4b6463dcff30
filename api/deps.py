"""Request dependencies as ``Annotated`` aliases, so routes declare what they need by type."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from tellmemore.accounts import (
    Accounts,
    AuthService,
    KeyPrincipal,
    Principal,
    is_api_key,
    require_scope,
    require_session,
)
from tellmemore.catalog import Catalog
from tellmemore.errors import CatalogError, ErrorKind
from tellmemore.settings import Settings
from tellmemore.wiring import Services


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_catalog(request: Request) -> Catalog:
    services: Services = request.app.state.services
    return services.catalog


async def get_settings(request: Request) -> Settings:
    services: Services = request.app.state.services
    return services.settings


ServicesDep = Annotated[Services, Depends(get_services)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


class PageParams:
    """``limit`` and ``cursor``, bounded by the API settings."""

    def __init__(
        self,
        settings: SettingsDep,
        limit: Annotated[
            int | None,
            Query(ge=1, le=10_000, description="Items per page (server maximum applies)."),
        ] = None,
        cursor: Annotated[
            str | None,
            Query(min_length=1, max_length=512, description="`next_cursor` of the previous page."),
        ] = None,
    ) -> None:
        maximum = settings.api.max_page_size
        if limit is not None and limit > maximum:
            raise CatalogError(
                "invalid_page_size",
                f"limit must be between 1 and {maximum}.",
                details={"max": maximum},
            )
        self.limit = limit or min(settings.api.default_page_size, maximum)
        self.cursor = cursor


PageDep = Annotated[PageParams, Depends()]


_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def _authenticated(request: Request) -> Principal:
    """Whoever ``Authorization: Bearer <access token | API key>`` names; 401 otherwise."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise CatalogError(
            "not_authenticated",
            "Sign in: this route needs an access token or an API key.",
            ErrorKind.UNAUTHORIZED,
        )
    services: Services = request.app.state.services
    if is_api_key(token):
        return await services.api_keys.authenticate(token)
    return await services.auth.authenticate(token)


async def get_principal(request: Request) -> Principal:
    """The signed-in caller (a session's access token, or an API key with the ``read`` scope on
    GET routes and ``write`` on the others); 401 without credentials, 403 without the scope."""
    principal = await _authenticated(request)
    require_scope(principal, "read" if request.method in _READ_METHODS else "write")
    return principal


async def get_session_principal(request: Request) -> Principal:
    """A signed-in session only: the account's credentials are never managed with an API key."""
    principal = await _authenticated(request)
    require_session(principal)
    return principal


async def get_llm_caller(request: Request) -> KeyPrincipal:
    """An API key with the ``llm`` scope: GPU time is granted explicitly, key by key."""
    principal = await _authenticated(request)
    if not isinstance(principal, KeyPrincipal):
        raise CatalogError(
            "api_key_required",
            "The LLM route takes an API key with the 'llm' scope (POST /me/api-keys), "
            "not a session's access token.",
            ErrorKind.FORBIDDEN,
        )
    require_scope(principal, "llm")
    return principal


async def get_accounts(request: Request) -> Accounts:
    services: Services = request.app.state.services
    return services.accounts


async def get_auth(request: Request) -> AuthService:
    services: Services = request.app.state.services
    return services.auth


CurrentUser = Annotated[Principal, Depends(get_principal)]
SessionUser = Annotated[Principal, Depends(get_session_principal)]
LlmCaller = Annotated[KeyPrincipal, Depends(get_llm_caller)]
AccountsDep = Annotated[Accounts, Depends(get_accounts)]
AuthDep = Annotated[AuthService, Depends(get_auth)]


async def get_admin(principal: CurrentUser) -> Principal:
    """Operators only (``tmm admin grant EMAIL``)."""
    if not principal.user.is_admin:
        raise CatalogError("forbidden", "This needs operator rights.", ErrorKind.FORBIDDEN)
    return principal


AdminUser = Annotated[Principal, Depends(get_admin)]
