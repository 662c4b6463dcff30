"""Loading a feed: fetch, parse, and follow it to where it lives now.

A publisher moves a feed with a permanent redirect or with ``itunes:new-feed-url`` in the old
feed; both are followed (a bounded number of hops, never in a loop) and every URL on the way is
reported, so the catalog can recognise the podcast by any of them later.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, replace
from typing import Any

from tellmemore.catalog.feeds.fetch import FeedFetcher, FetchResult, Validators
from tellmemore.catalog.feeds.parse import parse_feed
from tellmemore.catalog.feeds.urls import url_key
from tellmemore.catalog.types import ParsedFeed
from tellmemore.errors import FeedError


@dataclass(frozen=True)
class FeedDocument:
    """A fetched and parsed feed, after following permanent redirects and feed moves."""

    fetch: FetchResult
    feed: ParsedFeed
    home_url: str  # where the feed lives now
    aliases: tuple[tuple[str, str], ...]  # (url, reason) for every URL that led here

    def validators(self) -> dict[str, Any]:
        """What to store for the next conditional GET, plus a digest of the body."""
        body = self.fetch.body
        return {
            "etag": self.fetch.etag,
            "last_modified": self.fetch.last_modified,
            "body_sha256": hashlib.sha256(body).hexdigest() if body else None,
        }


# Parsing a large feed (a 5 MB back catalogue) takes seconds of CPU; off the event loop it no
# longer stalls every other request of the replica. Small feeds parse inline: a thread hop costs
# more than the parse.
INLINE_PARSE_BYTES = 256 * 1024


async def _parse(body: bytes, *, url: str, content_type: str | None) -> ParsedFeed:
    if len(body) <= INLINE_PARSE_BYTES:
        return parse_feed(body, url=url, content_type=content_type)
    return await asyncio.to_thread(parse_feed, body, url=url, content_type=content_type)


class FeedLoader:
    def __init__(self, fetcher: FeedFetcher, *, max_moves: int) -> None:
        self._fetcher = fetcher
        self._max_moves = max_moves

    def from_bytes(self, url: str, body: bytes) -> FeedDocument:
        """A document for feed bytes already in hand (e.g. shipped with the app)."""
        fetched = FetchResult(url, url, None, False, body, None, None, None)
        return FeedDocument(fetched, parse_feed(body, url=url), url, ((url, "added"),))

    async def load(self, url: str, validators: Validators) -> FeedDocument:
        """Fetch and parse ``url`` (conditionally), following moves."""
        fetched = await self._fetcher.fetch(url, validators)
        aliases: list[tuple[str, str]] = [(url, "added")]
        home = url
        if fetched.moved_to:
            home = fetched.moved_to
            aliases.append((home, "redirect"))
        if fetched.not_modified:
            return FeedDocument(fetched, ParsedFeed(title=""), home, tuple(aliases))
        feed = await _parse(fetched.body, url=fetched.final_url, content_type=fetched.content_type)
        seen = {url_key(u) for u, _ in aliases}
        warnings = list(feed.warnings)
        for _ in range(self._max_moves):
            target = feed.new_feed_url
            if not target or url_key(target) in seen:
                break
            seen.add(url_key(target))
            try:
                moved = await self._fetcher.fetch(target)
                moved_feed = await _parse(
                    moved.body, url=moved.final_url, content_type=moved.content_type
                )
            except FeedError as exc:
                warnings.append(f"itunes:new-feed-url {target} could not be used: {exc.code}")
                break
            aliases.append((target, "new_feed_url"))
            home, fetched, feed = target, moved, moved_feed
            warnings = list(feed.warnings)
            if moved.moved_to:
                home = moved.moved_to
                aliases.append((home, "redirect"))
                seen.add(url_key(home))
        if warnings != list(feed.warnings):
            feed = replace(feed, warnings=tuple(warnings))
        return FeedDocument(fetched, feed, home, tuple(aliases))
