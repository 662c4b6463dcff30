"""Feeds: fetching (HTTP with limits and a host policy), parsing (feedparser plus the
Podcasting 2.0 namespace) and the URL rules that decide identity."""

__all__ = ["extras", "fetch", "loader", "parse", "urls", "values"]
