"""Keyset paging: opaque cursors that stay correct while rows are being added.

Offsets skip or repeat rows when new episodes arrive between two page loads and get slower with
depth; a cursor names the last row seen (its sort time and id) instead.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID

from tellmemore.errors import CatalogError

T = TypeVar("T")


@dataclass(frozen=True)
class Cursor:
    """The position after which the next page starts."""

    at: datetime
    id: UUID

    def encode(self) -> str:
        raw = json.dumps({"t": self.at.isoformat(), "id": str(self.id)}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            padded = token + "=" * (-len(token) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            at = datetime.fromisoformat(data["t"])
            if at.tzinfo is None:
                raise ValueError("naive time")
            return cls(at=at, id=UUID(data["id"]))
        except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise CatalogError(
                "invalid_cursor",
                "The page cursor is not one this server issued; start again without it.",
            ) from exc


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of results and the cursor for the next (``None`` on the last page)."""

    items: list[T]
    next_cursor: str | None
