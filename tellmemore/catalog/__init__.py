"""The podcast catalog: podcasts and episodes from feeds (fetched with limits and a host
policy, parsed with their real-world quirks), Apple Podcasts discovery and OPML.

Queueing new episodes for processing is a port (:class:`EpisodeQueue`) that the composition
root fills; SQL lives in ``rows/``."""

from tellmemore.catalog.apple import AppleClient, make_apple_http_client
from tellmemore.catalog.feeds.credentials import carries_credentials, redacted_url
from tellmemore.catalog.feeds.fetch import FeedFetcher, make_http_client
from tellmemore.catalog.feeds.loader import FeedLoader
from tellmemore.catalog.feeds.parse import parse_feed, repair_xml
from tellmemore.catalog.feeds.urls import (
    enclosure_identity,
    parse_http_url,
    url_key,
)
from tellmemore.catalog.feeds.values import (
    clean_text,
    html_to_text,
    parse_duration,
    parse_explicit,
    parse_length,
)
from tellmemore.catalog.opml import OpmlImportReport, parse_opml, render_opml
from tellmemore.catalog.ports import EpisodeQueue
from tellmemore.catalog.service import AddResult, Catalog
from tellmemore.catalog.ttl_cache import CallBudget, TTLCache
from tellmemore.catalog.types import Podcast
from tellmemore.catalog.visibility import EVERYONE, Viewer, visible_sql

__all__ = [
    "EVERYONE",
    "AddResult",
    "AppleClient",
    "CallBudget",
    "Catalog",
    "EpisodeQueue",
    "FeedFetcher",
    "FeedLoader",
    "OpmlImportReport",
    "Podcast",
    "TTLCache",
    "Viewer",
    "carries_credentials",
    "clean_text",
    "enclosure_identity",
    "html_to_text",
    "make_apple_http_client",
    "make_http_client",
    "parse_duration",
    "parse_explicit",
    "parse_feed",
    "parse_http_url",
    "parse_length",
    "parse_opml",
    "redacted_url",
    "render_opml",
    "repair_xml",
    "url_key",
    "visible_sql",
]
