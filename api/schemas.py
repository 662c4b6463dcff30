"""Request and response bodies: the API's public contract, documented in OpenAPI."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self
from uuid import UUID

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator


class Out(BaseModel):
    """Response models read straight from the core's dataclasses."""

    model_config = ConfigDict(from_attributes=True)


class In(BaseModel):
    """Request models refuse unknown fields, so a misspelt field is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. `feed_malformed`.")
    message: str = Field(description="What went wrong, in a sentence a person understands.")
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorOut(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in {
        404: "Not found",
        409: "Already exists",
        413: "Request body too large",
        422: "Invalid input, or an unusable feed",
        502: "An upstream service failed",
        503: "Throttled upstream, or the database is unavailable",
    }.items()
}


class PodcastOut(Out):
    id: UUID
    feed_url: str
    title: str
    author: str | None
    description: str | None
    description_html: str | None
    link: str | None
    image_url: str | None
    language: str | None
    categories: list[str]
    explicit: bool | None
    apple_id: int | None
    private: bool = Field(
        description="Seen only by its subscribers: its feed URL carries a subscriber's "
        "credentials, or its subscriber asked for it."
    )
    episode_count: int
    previous_feed_urls: list[str] = Field(
        description="Other URLs this feed was known by (moves, redirects, other spellings); "
        "never someone's credentials."
    )
    last_fetched_at: datetime | None
    last_success_at: datetime | None
    last_error_code: str | None
    last_error: str | None
    parse_warning: str | None
    created_at: datetime
    updated_at: datetime


class TranscriptOut(Out):
    url: str
    type: str
    language: str | None = None
    rel: str | None = None


class ChapterOut(BaseModel):
    start_s: float
    end_s: float
    title: str


class SummaryOut(BaseModel):
    summary: str
    topics: list[str]
    chapters: list[ChapterOut] = Field(
        description="The publisher's chapters (podcast:chapters) when the feed offers usable "
        "ones, else the summarizer's."
    )
    chapters_source: Literal["publisher", "summarizer"] = "summarizer"


class StepProgressOut(Out):
    step: str
    done: int | None
    total: int | None
    unit: str | None


class EpisodeOut(Out):
    id: UUID
    podcast_id: UUID
    guid: str | None
    title: str
    description: str | None
    description_html: str | None
    link: str | None
    published_at: datetime | None
    published_raw: str | None = Field(description="The date exactly as the feed wrote it.")
    duration_s: int | None
    duration_raw: str | None
    enclosure_url: str | None
    enclosure_type: str | None
    enclosure_length: int | None
    image_url: str | None
    season: int | None
    episode_number: int | None
    episode_type: str | None
    explicit: bool | None
    chapters_url: str | None
    chapters_type: str | None
    transcripts: list[TranscriptOut]
    status: Literal["new", "queued", "processing", "done", "failed"] = Field(
        description="Processing: queued, processing (see processing_step), done, or failed "
        "(see error_code/error_message; operators can retry it)."
    )
    processing_step: str | None = None
    progress: StepProgressOut | None = Field(
        default=None,
        description="While processing: the current step and how far it is, e.g. seconds of "
        "audio transcribed of the episode's length (done/total/unit null for a step that is "
        "not counted; total null while not known).",
    )
    error_code: str | None = None
    error_message: str | None = None
    processed_at: datetime | None = None
    transcript_source: Literal["publisher", "asr"] | None = None
    transcript_model: str | None = None
    segmenter_model: str | None = None
    llm_model: str | None = None
    embedding_model: str | None = None
    segment_count: int | None = None
    summary: SummaryOut | None = Field(
        default=None, validation_alias=AliasChoices("shown_summary", "summary")
    )
    created_at: datetime
    updated_at: datetime


class PodcastPage(BaseModel):
    items: list[PodcastOut]
    next_cursor: str | None


class EpisodePage(BaseModel):
    items: list[EpisodeOut]
    next_cursor: str | None


class AddPodcastIn(In):
    """Exactly one of ``feed_url`` and ``apple_id``."""

    feed_url: str | None = Field(default=None, min_length=1, max_length=2048)
    apple_id: int | None = Field(default=None, gt=0, lt=10**12)
    private: bool = Field(
        default=False,
        description="Keep this podcast to its subscribers (automatic for a feed URL with "
        "credentials). A URL already in the catalog is subscribed to as it is.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.feed_url is None) == (self.apple_id is None):
            raise ValueError("give exactly one of feed_url and apple_id")
        if self.private and self.feed_url is None:
            raise ValueError("private applies to a feed URL (Apple lists public feeds)")
        return self


class AddPodcastOut(BaseModel):
    podcast: PodcastOut
    episodes_added: int
    subscribed: bool


class RefreshOut(BaseModel):
    podcast_id: UUID
    not_modified: bool
    added: int
    updated: int
    unchanged: int


class AppleResultOut(Out):
    apple_id: int
    title: str
    author: str | None
    feed_url: str | None = Field(description="Missing for Apple-exclusive shows.")
    artwork_url: str | None
    genres: list[str]
    episode_count: int | None
    store_url: str | None
    release_date: str | None
    podcast_id: UUID | None = Field(description="Set when this podcast is already in the catalog.")


class OpmlItemOut(BaseModel):
    feed_url: str | None
    title: str | None
    status: Literal["created", "exists", "failed"]
    podcast_id: UUID | None
    error: ErrorDetail | None


class OpmlImportOut(BaseModel):
    created: int
    exists: int
    failed: int
    items: list[OpmlItemOut]


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ready", "not_ready"]
    database: bool
    schema_version: int | None
    schema_latest: int
    problems: list[str]


class FailedJobOut(Out):
    job_id: int
    episode_id: UUID
    episode_title: str | None
    podcast_id: UUID | None
    attempts: int
    error_code: str | None
    error: str | None
    failed_at: datetime


class FailedJobList(BaseModel):
    items: list[FailedJobOut]
