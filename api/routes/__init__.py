"""One router per resource."""

__all__ = [
    "auth",
    "demo",
    "discovery",
    "episodes",
    "health",
    "history",
    "jobs",
    "me",
    "metrics",
    "notifications",
    "opml",
    "playlists",
    "podcasts",
    "search",
    "tellmemore",
]
