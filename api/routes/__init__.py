"""One router per resource."""

__all__ = [
    "api_keys",
    "auth",
    "demo",
    "discovery",
    "episodes",
    "health",
    "history",
    "jobs",
    "llm",
    "me",
    "metrics",
    "notifications",
    "opml",
    "playlists",
    "podcasts",
    "search",
    "tellmemore",
]
