"""Errors as values at the edges.

Every failure a user or a feed can cause is a :class:`CatalogError` carrying a stable,
machine-readable ``code``, a sentence a person understands, and a :class:`ErrorKind` that the
HTTP layer maps to a status code. Core code never speaks HTTP; the API never invents messages.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class ErrorKind(Enum):
    """What sort of failure it is, independent of transport."""

    INVALID = "invalid"  # the request or the thing it points at is unusable (HTTP 422)
    UNAUTHORIZED = "unauthorized"  # no valid credentials (401)
    FORBIDDEN = "forbidden"  # (403)
    NOT_FOUND = "not_found"  # (404)
    CONFLICT = "conflict"  # it already exists (409)
    PRECONDITION_FAILED = "precondition_failed"  # If-Match no longer holds (412)
    TOO_LARGE = "too_large"  # the request body is over a limit (413)
    UPSTREAM_THROTTLED = "upstream_throttled"  # a third party asked us to slow down (503)
    UPSTREAM_FAILED = "upstream_failed"  # a third party answered badly (502)
    UNAVAILABLE = "unavailable"  # our own dependency is down (503)
    RATE_LIMITED = "rate_limited"  # the caller sent too many requests (429)


class CatalogError(Exception):
    """A failure with a code for machines and a message for people."""

    def __init__(
        self,
        code: str,
        message: str,
        kind: ErrorKind = ErrorKind.INVALID,
        *,
        details: dict[str, Any] | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.kind = kind
        self.details = details or {}
        self.retry_after_s = retry_after_s

    def __repr__(self) -> str:
        return f"CatalogError({self.code!r}, {self.message!r})"


class FeedError(CatalogError):
    """A feed could not be fetched or understood."""


class AppleError(CatalogError):
    """The iTunes Search API failed or throttled us."""
