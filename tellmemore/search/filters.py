"""Search filters as Lance SQL predicates.

Every value is rendered by this module (ids quoted with doubled single quotes, numbers through
``float``, times as UTC timestamp literals), never pasted from a request.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tellmemore.index import sql_string
from tellmemore.search.types import SearchFilters


def _timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("Filter times must be timezone-aware.")
    utc = value.astimezone(UTC).replace(tzinfo=None)
    return f"timestamp '{utc.isoformat(sep=' ', timespec='microseconds')}'"


def _in(column: str, values: tuple[str, ...], *, negate: bool = False) -> str:
    listed = ", ".join(sql_string(v) for v in values)
    return f"{column} {'NOT IN' if negate else 'IN'} ({listed})"


def where_clause(filters: SearchFilters, *, durations: bool = True) -> str | None:
    """The filters as one predicate, or None when nothing is filtered. ``durations=False`` for
    tables without segment times (episode summaries)."""
    parts: list[str] = []
    if filters.podcast_ids:
        parts.append(_in("podcast_id", filters.podcast_ids))
    if filters.episode_ids:
        parts.append(_in("episode_id", filters.episode_ids))
    if filters.published_after is not None:
        parts.append(f"published_at >= {_timestamp(filters.published_after)}")
    if filters.published_before is not None:
        parts.append(f"published_at < {_timestamp(filters.published_before)}")
    if durations and filters.min_duration_s is not None:
        parts.append(f"(end_s - start_s) >= {float(filters.min_duration_s)!r}")
    if durations and filters.max_duration_s is not None:
        parts.append(f"(end_s - start_s) <= {float(filters.max_duration_s)!r}")
    if filters.exclude_segment_ids:
        parts.append(_in("id", filters.exclude_segment_ids, negate=True))
    if filters.exclude_podcast_ids:
        parts.append(_in("podcast_id", filters.exclude_podcast_ids, negate=True))
    return " AND ".join(parts) or None
