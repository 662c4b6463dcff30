"""What each listener has heard: reports of whole episodes or time ranges, merged on read.

Playlists use it to skip what was heard; "tell me more" leaves heard passages out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from tellmemore.errors import CatalogError
from tellmemore.playlists.rows import history as history_rows
from tellmemore.playlists.rows import playlists as rows
from tellmemore.playlists.rows.history import HistoryEntry, Range
from tellmemore.storage import Cursor, Page

# Players report positions roughly (often whole seconds): a range counts as heard when at most
# this much of it, and at most a tenth of it, was missed.
RANGE_SLACK_S = 1.0
# A whole-episode item counts as heard once this share of the episode was.
WHOLE_EPISODE_SHARE = 0.9


def _covered_s(merged: Sequence[Range], start: float, end: float) -> float:
    return sum(max(0.0, min(end, b) - max(start, a)) for a, b in merged)


def is_heard(
    start_s: float | None, end_s: float | None, duration_s: float | None, heard: Sequence[Range]
) -> bool:
    """Whether a range (or, without times, a whole episode of ``duration_s``) is covered by the
    ``heard`` ranges (merged). A whole episode counts as heard when it was marked heard as a
    whole, or when enough of its known duration was."""
    if start_s is not None and end_s is not None:
        length = end_s - start_s
        missing = length - _covered_s(heard, start_s, end_s)
        return missing <= min(RANGE_SLACK_S, 0.1 * length)
    if any(math.isinf(end) for _, end in heard):
        return True
    if not duration_s or duration_s <= 0:
        return False
    return _covered_s(heard, 0.0, duration_s) >= WHOLE_EPISODE_SHARE * duration_s


def check_times(start_s: float | None, end_s: float | None, duration_s: float | None) -> None:
    """A time range (both or neither, finite, ordered, inside the episode when its length is
    known), or a 4xx with a code."""
    if (start_s is None) != (end_s is None):
        raise CatalogError(
            "time_range_incomplete",
            "Give both start_s and end_s for a time range, or neither for the whole episode.",
        )
    if start_s is None or end_s is None:
        return
    if not (math.isfinite(start_s) and math.isfinite(end_s)) or start_s < 0:
        raise CatalogError("invalid_time_range", "start_s and end_s must be 0 or more seconds.")
    if start_s >= end_s:
        raise CatalogError("invalid_time_range", "start_s must be before end_s.")
    if duration_s and end_s > duration_s:
        raise CatalogError(
            "time_range_beyond_episode",
            f"end_s is past the end of the episode ({duration_s:g} s).",
            details={"duration_s": duration_s},
        )


class ListeningHistory:
    """Listening reports over PostgreSQL."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def record_heard(
        self,
        user_id: UUID,
        episode_id: UUID,
        *,
        start_s: float | None = None,
        end_s: float | None = None,
    ) -> HistoryEntry:
        """Remember that the user heard an episode (no times) or a range of it."""
        async with self._pool.connection() as conn:
            lengths = await rows.episode_lengths(conn, [episode_id], viewer=user_id)
            if episode_id not in lengths:
                raise CatalogError(
                    "episode_not_found",
                    "There is no such episode.",
                    details={"episode_id": str(episode_id)},
                )
            check_times(start_s, end_s, lengths[episode_id])
            return await history_rows.add(conn, user_id, episode_id, start_s, end_s)

    async def history(self, user_id: UUID, *, limit: int, cursor: str | None) -> Page[HistoryEntry]:
        after = Cursor.decode(cursor) if cursor else None
        async with self._pool.connection() as conn:
            return await history_rows.list_page(conn, user_id, limit=limit, after=after)

    async def clear_history(self, user_id: UUID) -> int:
        """Forget everything the user heard; returns how many reports were removed."""
        async with self._pool.connection() as conn:
            return await history_rows.clear(conn, user_id)

    async def heard_ranges(
        self, user_id: UUID, episode_ids: Iterable[UUID]
    ) -> dict[UUID, list[Range]]:
        """What the user heard of each episode, merged, in order; a whole-episode mark is
        ``(0, inf)``. Episodes with nothing heard are absent."""
        async with self._pool.connection() as conn:
            return await history_rows.heard_ranges(conn, user_id, set(episode_ids))
