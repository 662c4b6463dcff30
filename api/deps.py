"""Request dependencies as ``Annotated`` aliases, so routes declare what they need by type."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from core.catalog import Catalog
from core.errors import CatalogError
from core.services import Services
from core.settings import Settings


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_catalog(request: Request) -> Catalog:
    return get_services(request).catalog


def get_settings(request: Request) -> Settings:
    return get_services(request).settings


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
