"""What search takes and returns: plain frozen dataclasses shared by the engine, the API and
"tell me more"."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class SearchMode(StrEnum):
    HYBRID = "hybrid"  # semantic and full-text, fused by reciprocal rank
    SEMANTIC = "semantic"
    FULLTEXT = "fulltext"


@dataclass(frozen=True)
class SearchFilters:
    """Restrictions applied before ranking (Lance prefilters), so a filter never empties a page
    that a later filter would have refilled."""

    podcast_ids: tuple[str, ...] = ()
    episode_ids: tuple[str, ...] = ()
    published_after: datetime | None = None  # inclusive, timezone-aware
    published_before: datetime | None = None  # exclusive
    min_duration_s: float | None = None  # segment length
    max_duration_s: float | None = None
    exclude_segment_ids: tuple[str, ...] = ()
    # Private podcasts the caller does not subscribe to (never found, whatever else is asked).
    exclude_podcast_ids: tuple[str, ...] = ()


NO_FILTERS = SearchFilters()


@dataclass(frozen=True)
class Highlight:
    """The passage's best-matching part: ``snippet`` is plain text, ``marks`` are
    ``(start, end)`` character offsets of the hit inside it."""

    snippet: str
    marks: tuple[tuple[int, int], ...]
    offset_s: float  # where the matching sentence starts, in episode seconds


@dataclass(frozen=True)
class SegmentHit:
    segment_id: str
    episode_id: str
    podcast_id: str
    episode_title: str
    podcast_title: str
    published_at: datetime | None
    index: int
    start_s: float
    end_s: float
    text: str
    score: float  # fused score (higher is better); comparable within one result list only
    similarity: float | None  # cosine similarity to the query, when it was computed
    semantic_rank: int | None  # 1-based rank in each method's list, None when absent
    fulltext_rank: int | None
    highlight: Highlight | None = None
    vector: tuple[float, ...] | None = field(default=None, repr=False, compare=False)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class EpisodeHit:
    """An episode found by its summary ("episodes about ...")."""

    episode_id: str
    podcast_id: str
    episode_title: str
    podcast_title: str
    published_at: datetime | None
    summary: str
    topics: tuple[str, ...]
    score: float
    similarity: float | None
    semantic_rank: int | None
    fulltext_rank: int | None
