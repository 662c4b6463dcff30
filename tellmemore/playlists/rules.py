"""Who may read or change a playlist, and what an edit may say.

Its owner always reads; anyone reads a public one; everyone else gets the same 404 as for an
id that does not exist, so a private playlist's existence is never revealed. Only the owner
edits (a reader of a public playlist who tries gets 403).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tellmemore.errors import CatalogError, ErrorKind
from tellmemore.playlists.rows.playlists import Playlist


def not_found() -> CatalogError:
    return CatalogError("playlist_not_found", "There is no such playlist.", ErrorKind.NOT_FOUND)


def readable(playlist: Playlist | None, viewer: UUID | None) -> Playlist:
    if playlist is None or (playlist.owner_id != viewer and playlist.visibility != "public"):
        raise not_found()
    return playlist


def owned(playlist: Playlist | None, actor: UUID) -> Playlist:
    playlist = readable(playlist, actor)
    if playlist.owner_id != actor:
        raise CatalogError(
            "forbidden", "Only the playlist's owner can change it.", ErrorKind.FORBIDDEN
        )
    return playlist


def check_position(position: int, highest: int) -> None:
    if not 0 <= position <= highest:
        raise CatalogError(
            "position_out_of_range",
            f"position must be between 0 and {highest}.",
            details={"min": 0, "max": highest},
        )


def text(value: str | None, limit: int, code: str, name: str) -> str | None:
    """Stripped text (None when empty), refused with ``code`` when over ``limit`` characters."""
    value = (value or "").strip() or None
    if value is not None and len(value) > limit:
        raise CatalogError(
            code, f"The {name} is longer than {limit} characters.", details={"max": limit}
        )
    return value


def check_topic(topic: dict[str, Any]) -> dict[str, Any]:
    query, minutes = topic.get("query"), topic.get("minutes")
    if not isinstance(query, str) or not query.strip() or not isinstance(minutes, int):
        raise CatalogError(
            "invalid_topic", 'A topic needs {"query": text, "minutes": whole number}.'
        )
    if not isinstance(topic.get("filters", {}), dict):
        raise CatalogError("invalid_topic", "A topic's filters must be an object.")
    return topic
