"""SQL for playlists, their items and the listening history."""

__all__ = ["history", "playlists"]
