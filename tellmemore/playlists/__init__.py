"""Playlists of whole episodes and time ranges, the listening history that lets a reader skip
what they heard, their M3U/RSS/JSON exports, and topic playlists that grow as episodes are
processed."""

from tellmemore.playlists.history import ListeningHistory, is_heard
from tellmemore.playlists.rows.history import WHOLE_EPISODE, merge_ranges
from tellmemore.playlists.rows.playlists import NewItem, Playlist, PlaylistItem
from tellmemore.playlists.service import Playlists
from tellmemore.playlists.topics import TopicPlaylists
from tellmemore.playlists.types import PlaylistContents

__all__ = [
    "WHOLE_EPISODE",
    "ListeningHistory",
    "NewItem",
    "Playlist",
    "PlaylistContents",
    "PlaylistItem",
    "Playlists",
    "TopicPlaylists",
    "is_heard",
    "merge_ranges",
]
