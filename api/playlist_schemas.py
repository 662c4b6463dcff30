"""Request and response bodies for playlists and listening history.

Text fields are bounded here only loosely (to refuse absurd bodies early); the configured
limits (``settings.playlists``) are the core's, so they answer with their own codes
(``title_too_long``, ``note_too_long``, ...).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import BaseModel, Field, model_validator

from api.schemas import In, Out
from tellmemore.playlists import Playlist, PlaylistContents

Visibility = Literal["private", "unlisted", "public"]
Seconds = Annotated[float, Field(allow_inf_nan=False, description="Seconds into the episode.")]
Title = Field(max_length=10_000)  # an empty one gets the core's `title_required`
LongText = Field(default=None, max_length=100_000)


class PlaylistIn(In):
    title: str = Title
    description: str | None = LongText
    visibility: Visibility = "private"
    skip_heard: bool = Field(
        default=False, description="Leave out, for me, the items I have already heard."
    )


class PlaylistPatchIn(In):
    """Fields to change; send ``description: null`` to clear it."""

    title: str | None = Field(default=None, max_length=10_000)
    description: str | None = LongText
    visibility: Visibility | None = None
    skip_heard: bool | None = None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> Self:
        for name in ("title", "visibility", "skip_heard"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class ItemIn(In):
    """A whole episode (no times) or the range ``start_s``..``end_s`` of it."""

    episode_id: UUID
    start_s: Seconds | None = None
    end_s: Seconds | None = None
    note: str | None = LongText
    position: int | None = Field(
        default=None, description="Where to insert it (0 = first); appended when omitted."
    )


class ItemPatchIn(In):
    """Move the item and/or change its note (``note: null`` clears it)."""

    position: int | None = Field(default=None, description="Its new place, 0 = first.")
    note: str | None = LongText

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("give position, note or both")
        if "position" in self.model_fields_set and self.position is None:
            raise ValueError("position cannot be null")
        return self


class ItemOut(Out):
    id: UUID
    position: int
    episode_id: UUID
    start_s: float | None
    end_s: float | None
    note: str | None
    segment_id: str | None
    reason: str | None = Field(description="The matching passage, for items a topic added.")
    summary: str | None
    score: float | None
    added_by: Literal["user", "topic"]
    added_at: datetime
    episode_title: str
    episode_link: str | None
    published_at: datetime | None
    episode_duration_s: float | None
    enclosure_url: str | None
    enclosure_type: str | None
    image_url: str | None
    podcast_id: UUID
    podcast_title: str


class PlaylistSummaryOut(BaseModel):
    id: UUID
    title: str
    description: str | None
    visibility: Visibility
    kind: Literal["manual", "topic"]
    topic: dict[str, Any] | None
    skip_heard: bool
    refreshed_at: datetime | None
    version: int = Field(description="Bumped by every change; also the ETag.")
    item_count: int
    mine: bool = Field(description="Whether the caller owns it (and may change it).")
    share_token: str | None = Field(
        description="The owner's share link is /shared/playlists/{share_token}; null for others."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, playlist: Playlist, viewer: UUID | None) -> Self:
        mine = playlist.owner_id == viewer
        return cls(
            id=playlist.id, title=playlist.title, description=playlist.description,
            visibility=playlist.visibility, kind=playlist.kind, topic=playlist.topic,
            skip_heard=playlist.skip_heard, refreshed_at=playlist.refreshed_at,
            version=playlist.version, item_count=playlist.item_count, mine=mine,
            share_token=playlist.share_token if mine else None,
            created_at=playlist.created_at, updated_at=playlist.updated_at,
        )  # fmt: skip


class PlaylistOut(PlaylistSummaryOut):
    items: list[ItemOut]
    skipped_heard: int = Field(description="Items left out because the reader heard them.")

    @classmethod
    def of_contents(cls, contents: PlaylistContents, viewer: UUID | None) -> PlaylistOut:
        summary = PlaylistSummaryOut.of(contents.playlist, viewer)
        return cls(
            **summary.model_dump(),
            items=[ItemOut.model_validate(i) for i in contents.items],
            skipped_heard=contents.skipped,
        )


class PlaylistPage(BaseModel):
    items: list[PlaylistSummaryOut]
    next_cursor: str | None


class HeardIn(In):
    """An episode heard as a whole (no times), or the range ``start_s``..``end_s`` of it."""

    episode_id: UUID
    start_s: Seconds | None = None
    end_s: Seconds | None = None


class HistoryEntryOut(Out):
    id: UUID
    episode_id: UUID
    start_s: float | None
    end_s: float | None
    heard_at: datetime
    episode_title: str
    podcast_id: UUID
    podcast_title: str


class HistoryPage(BaseModel):
    items: list[HistoryEntryOut]
    next_cursor: str | None
