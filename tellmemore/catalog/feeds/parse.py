"""From feed bytes to a :class:`ParsedFeed`, with feedparser doing the heavy lifting.

Real feeds are messy; this module decides what is recoverable (kept, with a warning) and what
is not a feed at all (refused with a clear code). Episode identity is assigned here because it
needs the whole feed: a guid only identifies an episode if no other item in the feed shares it.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from html.entities import name2codepoint
from typing import Any
from urllib.parse import urlsplit

import feedparser

from tellmemore.catalog.feeds.extras import ItemExtras, read_extras
from tellmemore.catalog.feeds.urls import enclosure_identity, web_url
from tellmemore.catalog.feeds.values import (
    clean_text,
    html_to_text,
    parse_duration,
    parse_explicit,
    parse_int,
    parse_length,
    publication_date,
    scrub,
)
from tellmemore.catalog.types import ChaptersLink, ParsedEpisode, ParsedFeed, TranscriptLink
from tellmemore.errors import FeedError

MAX_EPISODES = 20_000
_HTML_START = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>])", re.I | re.S)
_HTML_ANYWHERE = re.compile(rb"<(?:!doctype\s+html|html[\s>]|body[\s>])", re.I)
_MAX_GUID = 500


def parse_feed(body: bytes, *, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse feed bytes fetched from ``url``; raise :class:`FeedError` if it is no feed."""
    body = body.removeprefix(b"\xef\xbb\xbf")
    if not body.strip():
        raise FeedError("feed_empty", "The URL answered with an empty document.")
    if _HTML_START.match(body[:4096]):
        raise FeedError(
            "not_a_feed",
            "The URL returned a web page, not a podcast feed. Look for the RSS link on that page.",
        )
    # No content-location: feedparser would resolve a relative guid against the fetch URL, and
    # an episode's identity must not change when its feed moves.
    headers: dict[str, str] = {}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=True)
    warnings: list[str] = []
    if _broken(parsed):
        # Bare ampersands and HTML entities are the common, harmless breakage: repair those
        # and parse strictly again. Anything else (truncation, garbage) is refused rather than
        # half-read, so a broken download never passes for the whole feed.
        repaired = repair_xml(body)
        reparsed = feedparser.parse(repaired, response_headers=headers, sanitize_html=True)
        if repaired == body or _broken(reparsed) or not reparsed.version:
            error = _describe(parsed.get("bozo_exception"))
            if not parsed.version and _HTML_ANYWHERE.search(body[:4096]):
                raise FeedError("not_a_feed", "The URL returned a web page, not a podcast feed.")
            raise FeedError(
                "feed_malformed",
                f"The feed is not well-formed XML ({error}).",
                details={"parser_error": error},
            )
        warnings.append("repaired malformed XML (unescaped & or HTML entities)")
        parsed, body = reparsed, repaired
    if not parsed.version:
        raise FeedError("not_a_feed", "The document is XML but not an RSS or Atom feed.")
    scrub(parsed)
    channel: dict[str, Any] = parsed.feed
    entries: list[dict[str, Any]] = parsed.entries[:MAX_EPISODES]
    title = clean_text(channel.get("title"), 500)
    if not title:
        title = urlsplit(url).hostname or "Untitled podcast"
        warnings.append("the feed has no title")
    if len(parsed.entries) > MAX_EPISODES:
        warnings.append(f"only the first {MAX_EPISODES} items were read")

    extras = scrub(read_extras(body))
    episodes = _episodes(entries, _align_extras(entries, extras.items if extras else None))
    description_html = channel.get("summary") or channel.get("subtitle")
    image = channel.get("image") or {}
    new_feed_url = (channel.get("itunes_new-feed-url") or "").strip() or None
    return ParsedFeed(
        title=title,
        author=clean_text(channel.get("author") or channel.get("itunes_author"), 500),
        description=html_to_text(description_html),
        description_html=description_html or None,
        link=web_url(channel.get("link")),
        image_url=web_url(image.get("href") or image.get("url")),
        language=clean_text(channel.get("language"), 35),
        categories=tuple(
            dict.fromkeys(t["term"].strip() for t in channel.get("tags", []) if t.get("term"))
        ),
        explicit=parse_explicit(extras.explicit if extras else channel.get("itunes_explicit")),
        new_feed_url=new_feed_url,
        episodes=episodes,
        warnings=tuple(warnings),
    )


def _broken(parsed: Any) -> bool:
    """Not well-formed XML (a wrong declared encoding alone is fine)."""
    error = parsed.get("bozo_exception")
    return bool(parsed.bozo) and not isinstance(error, feedparser.CharacterEncodingOverride)


_CDATA = re.compile(rb"(<!\[CDATA\[.*?\]\]>)", re.S)
_BARE_AMP = re.compile(rb"&(?!(?:#[0-9]+|#x[0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);)")
_NAMED = re.compile(rb"&([A-Za-z][A-Za-z0-9]*);")
_XML_NAMED = frozenset({b"amp", b"lt", b"gt", b"quot", b"apos"})
_CHAR_REF = re.compile(rb"&#([0-9]{1,8}|[xX][0-9a-fA-F]{1,8});")
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _named(match: re.Match[bytes]) -> bytes:
    name = match[1]
    if name in _XML_NAMED:
        return match[0]
    codepoint = name2codepoint.get(name.decode("ascii"))
    return b"&#%d;" % codepoint if codepoint else b"&amp;" + name + b";"


def _xml_char_ref(match: re.Match[bytes]) -> bytes:
    """A character reference XML 1.0 allows, or nothing (``&#0;``, ``&#x1b;``, surrogates)."""
    digits = match[1]
    try:
        code = int(digits[1:], 16) if digits[:1] in (b"x", b"X") else int(digits)
    except ValueError:
        return b""
    allowed = code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
    return match[0] if allowed or 0x10000 <= code <= 0x10FFFF else b""


def repair_xml(body: bytes) -> bytes:
    """Escape bare ``&``, turn HTML named entities into numeric ones (outside CDATA), and drop
    what XML 1.0 forbids anywhere: control bytes and references to control characters.
    Control bytes are only dropped from a byte-oriented encoding (UTF-16 is full of NULs)."""
    if not body.startswith((b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<")):
        body = _CONTROL_BYTES.sub(b"", body)
    parts = _CDATA.split(body)
    for i in range(0, len(parts), 2):  # even parts are outside CDATA sections
        fixed = _NAMED.sub(_named, _BARE_AMP.sub(b"&amp;", parts[i]))
        parts[i] = _CHAR_REF.sub(_xml_char_ref, fixed)
    return b"".join(parts)


def _describe(error: object) -> str:
    return str(error) if error else "unknown error"


def _align_extras(
    entries: list[dict[str, Any]], extras: list[ItemExtras] | None
) -> list[ItemExtras | None]:
    """Pair each feedparser entry with its namespace extras."""
    if extras is None:
        return [None] * len(entries)
    if len(extras) == len(entries) and all(
        _same_source(e, x) for e, x in zip(entries, extras, strict=True)
    ):
        return list(extras)
    by_key: dict[str, ItemExtras] = {}
    for x in extras:
        for key in (x.guid, x.enclosure_url, x.title):
            if key:
                by_key.setdefault(key, x)
    out: list[ItemExtras | None] = []
    for e in entries:
        enclosure = _enclosure(e)
        keys = (e.get("id"), enclosure.get("href") if enclosure else None, e.get("title"))
        out.append(next((by_key[k] for k in keys if k and k in by_key), None))
    return out


def _same_source(entry: dict[str, Any], extra: ItemExtras) -> bool:
    if extra.guid is not None:
        return extra.guid == (entry.get("id") or "").strip()
    return clean_text(extra.title, 1000) == clean_text(entry.get("title"), 1000)


def _enclosure(entry: dict[str, Any]) -> dict[str, Any] | None:
    enclosures = [link for link in entry.get("links", []) if link.get("rel") == "enclosure"]
    media = [
        e for e in enclosures if str(e.get("type", "")).lower().startswith(("audio/", "video/"))
    ]
    chosen = (media or enclosures or [None])[0]
    return chosen if chosen and chosen.get("href") else None


def _transcripts(entry: dict[str, Any], extra: ItemExtras | None) -> tuple[TranscriptLink, ...]:
    links: tuple[TranscriptLink, ...] = ()
    if extra is not None and extra.transcripts:
        links = extra.transcripts
    elif isinstance(single := entry.get("podcast_transcript"), dict) and single.get("url"):
        links = (
            TranscriptLink(
                url=single["url"],
                type=(single.get("type") or "text/plain").lower(),
                language=single.get("language") or None,
                rel=single.get("rel") or None,
            ),
        )
    return tuple(replace(link, url=kept) for link in links if (kept := web_url(link.url)))


def _chapters(entry: dict[str, Any], extra: ItemExtras | None) -> ChaptersLink | None:
    link = None
    if extra is not None and extra.chapters is not None:
        link = extra.chapters
    elif isinstance(single := entry.get("podcast_chapters"), dict) and single.get("url"):
        link = ChaptersLink(url=single["url"], type=single.get("type") or None)
    kept = web_url(link.url) if link else None
    return replace(link, url=kept) if link and kept else None


def _hash(*parts: str | None) -> str:
    return hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).hexdigest()[:32]


def _episodes(
    entries: list[dict[str, Any]], extras: list[ItemExtras | None]
) -> tuple[ParsedEpisode, ...]:
    guids = [(e.get("id") or "").strip() or None for e in entries]
    guid_counts = Counter(g for g in guids if g)
    episodes: list[ParsedEpisode] = []
    taken: dict[str, ParsedEpisode] = {}
    for entry, extra, guid in zip(entries, extras, guids, strict=True):
        episode = _episode(entry, extra, guid, unique_guid=bool(guid and guid_counts[guid] == 1))
        if episode.identity_key in taken:
            first = taken[episode.identity_key]
            if first.content_hash == episode.content_hash:
                continue  # the same item listed twice: keep the first
            salt = _hash(episode.title, episode.published_raw, episode.enclosure_url)
            episode = replace(episode, identity_key=f"{episode.identity_key}#{salt[:12]}")
        taken[episode.identity_key] = episode
        episodes.append(episode)
    return tuple(episodes)


def _episode(
    entry: dict[str, Any], extra: ItemExtras | None, guid: str | None, *, unique_guid: bool
) -> ParsedEpisode:
    enclosure = _enclosure(entry)
    enclosure_url = web_url(enclosure["href"]) if enclosure else None
    enclosure_key = enclosure_identity(enclosure_url) if enclosure_url else None
    link = web_url(entry.get("link"))
    title = clean_text(entry.get("title"), 1000)
    # dict.get: feedparser's own get() maps updated->published with a deprecation warning.
    published_raw = clean_text(dict.get(entry, "published") or dict.get(entry, "updated"), 200)
    if guid and unique_guid:
        identity = "guid:" + (guid if len(guid) <= _MAX_GUID else _hash(guid))
    elif enclosure_key:
        identity = enclosure_key
    elif link:
        identity = "link:" + _hash(link)
    else:
        identity = "item:" + _hash(title, published_raw)
    content = entry.get("content") or []
    description_html = (content[0].get("value") if content else None) or entry.get("summary")
    duration_raw = clean_text(entry.get("itunes_duration"), 100)
    image = entry.get("image") or {}
    return ParsedEpisode(
        identity_key=identity,
        guid=guid[:2000] if guid else None,
        enclosure_key=enclosure_key,
        title=title or published_raw or "Untitled episode",
        description=html_to_text(description_html),
        description_html=description_html or None,
        link=link,
        published_at=publication_date(
            dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed"),
            datetime.now(UTC),
        ),
        published_raw=published_raw,
        duration_s=parse_duration(duration_raw),
        duration_raw=duration_raw,
        enclosure_url=enclosure_url,
        enclosure_type=(enclosure.get("type") or "").strip().lower() or None if enclosure else None,
        enclosure_length=parse_length(enclosure.get("length")) if enclosure else None,
        image_url=web_url(image.get("href")),
        season=parse_int(entry.get("itunes_season"), low=0, high=100_000),
        episode_number=parse_int(entry.get("itunes_episode"), low=0, high=1_000_000),
        episode_type=clean_text(entry.get("itunes_episodetype"), 20),
        explicit=parse_explicit(extra.explicit if extra else entry.get("itunes_explicit")),
        transcripts=_transcripts(entry, extra),
        chapters=_chapters(entry, extra),
    )
