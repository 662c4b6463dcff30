"""What a search request may ask for: a query that is not empty or over-long, a sane limit.

Refusals are :class:`CatalogError` values the API turns into 4xx answers with a code."""

from __future__ import annotations

from tellmemore.errors import CatalogError, ErrorKind
from tellmemore.settings import SearchSettings


def clean_query(query: str, settings: SearchSettings) -> str:
    """The query with whitespace collapsed; empty or over-long queries are refused."""
    cleaned = " ".join(query.split())
    if not cleaned:
        raise CatalogError("empty_query", "Type something to search for.")
    limit = settings.max_query_chars
    if len(cleaned) > limit:
        raise CatalogError(
            "query_too_long",
            f"A search can be at most {limit} characters long; this one has {len(cleaned)}.",
            ErrorKind.INVALID,
            details={"max": limit},
        )
    return cleaned


def clean_limit(limit: int | None, settings: SearchSettings) -> int:
    maximum = settings.max_limit
    if limit is None:
        return min(settings.default_limit, maximum)
    if not 1 <= limit <= maximum:
        raise CatalogError(
            "invalid_limit", f"limit must be between 1 and {maximum}.", details={"max": maximum}
        )
    return limit
