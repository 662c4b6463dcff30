"""Domain types shared by the catalog, the API and (later) the pipelines.

Typed, frozen dataclasses at module boundaries: what a feed says (``Parsed*``), what the catalog
stores (``Podcast``, ``Episode``), and what discovery returns (``ApplePodcast``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID


class EpisodeStatus(StrEnum):
    """Where an episode is in processing (the job queue holds the attempts and leases)."""

    NEW = "new"
    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class TranscriptLink:
    """A publisher transcript (``podcast:transcript``): one per format/language the feed offers."""

    url: str
    type: str
    language: str | None = None
    rel: str | None = None


@dataclass(frozen=True)
class ChaptersLink:
    """A ``podcast:chapters`` document."""

    url: str
    type: str | None = None


@dataclass(frozen=True)
class ParsedEpisode:
    """One feed item, normalised, with the identity the catalog will key it by."""

    identity_key: str
    guid: str | None
    enclosure_key: str | None
    title: str
    description: str | None = None
    description_html: str | None = None
    link: str | None = None
    published_at: datetime | None = None
    published_raw: str | None = None
    duration_s: int | None = None
    duration_raw: str | None = None
    enclosure_url: str | None = None
    enclosure_type: str | None = None
    enclosure_length: int | None = None
    image_url: str | None = None
    season: int | None = None
    episode_number: int | None = None
    episode_type: str | None = None
    explicit: bool | None = None
    transcripts: tuple[TranscriptLink, ...] = ()
    chapters: ChaptersLink | None = None

    @property
    def content_hash(self) -> str:
        """A digest of everything the feed says (identity aside), so unchanged items are not
        rewritten."""
        payload: dict[str, Any] = asdict(self)
        del payload["identity_key"]
        payload["published_at"] = self.published_at.isoformat() if self.published_at else None
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class ParsedFeed:
    """A whole feed, normalised; ``warnings`` says what was recovered from rather than refused."""

    title: str
    author: str | None = None
    description: str | None = None
    description_html: str | None = None
    link: str | None = None
    image_url: str | None = None
    language: str | None = None
    categories: tuple[str, ...] = ()
    explicit: bool | None = None
    new_feed_url: str | None = None
    episodes: tuple[ParsedEpisode, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Podcast:
    """A podcast as the catalog stores it."""

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
    private: bool  # seen only by its subscribers (see ``catalog.visibility``)
    episode_count: int
    previous_feed_urls: list[str]
    last_fetched_at: datetime | None
    last_success_at: datetime | None
    last_error_code: str | None
    last_error: str | None
    parse_warning: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Episode:
    """An episode as the catalog stores it."""

    id: UUID
    podcast_id: UUID
    guid: str | None
    title: str
    description: str | None
    description_html: str | None
    link: str | None
    published_at: datetime | None
    published_raw: str | None
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
    transcripts: list[dict[str, Any]]
    status: str
    created_at: datetime
    updated_at: datetime
    # Processing: the current step, the last failure, and what made the outputs.
    processing_step: str | None = None
    processing_progress: dict[str, Any] | None = None  # {done, total, unit} of the step
    error_code: str | None = None
    error_message: str | None = None
    processed_at: datetime | None = None
    transcript_source: str | None = None
    transcript_key: str | None = None
    transcript_model: str | None = None
    segmenter_model: str | None = None
    llm_model: str | None = None
    embedding_model: str | None = None
    segment_count: int | None = None
    audio_duration_s: float | None = None
    summary: dict[str, Any] | None = None
    # [{start_s, end_s, title}] from the feed's podcast:chapters, fetched when processed.
    publisher_chapters: list[dict[str, Any]] | None = None

    @property
    def shown_summary(self) -> dict[str, Any] | None:
        """The summary as listeners see it: the publisher's chapters in place of the
        summarizer's when the feed offers usable ones (``chapters_source`` says which)."""
        if self.summary is None:
            return None
        if self.publisher_chapters:
            return {**self.summary, "chapters": self.publisher_chapters,
                    "chapters_source": "publisher"}  # fmt: skip
        return {**self.summary, "chapters_source": "summarizer"}

    @property
    def progress(self) -> dict[str, Any] | None:
        """The running step with how far it is (``{"step": "transcribing", "done": 840,
        "total": 3600, "unit": "seconds"}``); None unless the episode is being processed."""
        if self.status != "processing" or not self.processing_step:
            return None
        return {"step": self.processing_step, "done": None, "total": None, "unit": None,
                **(self.processing_progress or {})}  # fmt: skip


@dataclass(frozen=True)
class ApplePodcast:
    """One podcast from the iTunes Search API; ``feed_url`` is missing for Apple-only shows."""

    apple_id: int
    title: str
    author: str | None
    feed_url: str | None
    artwork_url: str | None
    genres: tuple[str, ...]
    episode_count: int | None
    store_url: str | None
    release_date: str | None


@dataclass(frozen=True)
class IngestResult:
    """What one feed ingestion changed."""

    podcast_id: UUID
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    not_modified: bool = False
    new_episode_ids: tuple[UUID, ...] = field(default=())
