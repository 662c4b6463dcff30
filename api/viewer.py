"""Who reads the catalog: catalog routes are open, yet private feeds show only to their
subscribers, so these routes look at the caller without requiring one."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.deps import get_principal
from tellmemore.catalog import Viewer as CatalogViewer
from tellmemore.errors import CatalogError


async def get_viewer(request: Request) -> CatalogViewer:
    """The signed-in caller's user id, or None when the request carries no credentials.
    Credentials that are sent must be valid: a bad token is a 401, not an anonymous read."""
    try:
        principal = await get_principal(request)
    except CatalogError as exc:
        if exc.code == "not_authenticated":
            return None
        raise
    return principal.user.id


Viewer = Annotated[CatalogViewer, Depends(get_viewer)]
