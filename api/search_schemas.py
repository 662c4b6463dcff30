"""Request and response bodies of search and "tell me more"."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from api.schemas import In


class HighlightOut(BaseModel):
    snippet: str = Field(description="The best-matching sentences of the passage, plain text.")
    marks: list[tuple[int, int]] = Field(
        description="Character ranges of `snippet` that matched the query."
    )
    html: str = Field(description="`snippet`, HTML-escaped, with `<mark>` around the matches.")


class SegmentHitOut(BaseModel):
    segment_id: str
    episode_id: str
    podcast_id: str
    episode_title: str
    podcast_title: str
    published_at: datetime | None
    start_s: float
    end_s: float
    text: str
    highlight: HighlightOut | None
    deep_link_s: float = Field(description="Where the matching sentence starts, in seconds.")
    audio_url: str | None = Field(
        description="The enclosure with a media fragment (`#t=start`) at the deep link."
    )
    score: float = Field(description="Fused rank score: higher is better, within this list.")
    similarity: float | None = Field(description="Cosine similarity to the query.")
    semantic_rank: int | None
    fulltext_rank: int | None


class SegmentResults(BaseModel):
    query: str
    mode: str
    results: list[SegmentHitOut]


class EpisodeHitOut(BaseModel):
    episode_id: str
    podcast_id: str
    episode_title: str
    podcast_title: str
    published_at: datetime | None
    summary: str
    topics: list[str]
    score: float
    similarity: float | None
    semantic_rank: int | None
    fulltext_rank: int | None


class EpisodeResults(BaseModel):
    query: str
    mode: str
    results: list[EpisodeHitOut]


class FiltersIn(In):
    podcast_ids: list[UUID] = Field(default_factory=list, max_length=100)
    published_after: datetime | None = None
    published_before: datetime | None = None
    min_duration_s: float | None = Field(default=None, ge=0, le=86_400)
    max_duration_s: float | None = Field(default=None, gt=0, le=86_400)


class TellMeMoreIn(In):
    topic: str = Field(description="What to hear about, in your own words.", max_length=10_000)
    minutes: int = Field(description="Target playlist length in whole minutes.")
    filters: FiltersIn = Field(default_factory=FiltersIn)
    save: bool = Field(default=True, description="Save as a topic playlist that keeps growing.")
    title: str | None = Field(default=None, max_length=200)
    skip_heard: bool = True


class TellMeMoreItemOut(BaseModel):
    episode_id: str
    podcast_id: str
    episode_title: str
    podcast_title: str
    start_s: float
    end_s: float
    segment_ids: list[str]
    summary: str | None = Field(description="The episode's summary.")
    reason: HighlightOut = Field(description="The passage that matched the topic.")
    similarity: float
    audio_url: str | None


class TellMeMoreOut(BaseModel):
    topic: str
    target_minutes: float
    total_minutes: float
    shortfall: bool = Field(
        description="True when fewer relevant minutes exist than were asked for."
    )
    playlist_id: str | None
    items: list[TellMeMoreItemOut]
