"""What the playlist service hands its callers: a playlist as one reader sees it, an edited
item, and the refusal of an edit made against a stale version."""

from __future__ import annotations

from dataclasses import dataclass

from tellmemore.errors import CatalogError, ErrorKind
from tellmemore.playlists.rows.playlists import Playlist, PlaylistItem


@dataclass(frozen=True)
class PlaylistContents:
    """A playlist as one reader sees it; ``skipped`` items were left out as already heard."""

    playlist: Playlist
    items: list[PlaylistItem]
    skipped: int = 0


@dataclass(frozen=True)
class ItemEdit:
    """An item after an edit, and the playlist's version after it."""

    item: PlaylistItem
    version: int


class PlaylistChanged(CatalogError):
    """``If-Match`` named a version the playlist has moved past (HTTP 412)."""

    def __init__(self, version: int) -> None:
        super().__init__(
            "playlist_changed",
            "The playlist changed since you read it; read it again and retry.",
            ErrorKind.PRECONDITION_FAILED,
            details={"version": version},
        )
        self.version = version
