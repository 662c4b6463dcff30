"""A playlist as a file other software opens: a versioned JSON document, an extended M3U
playlist for media players, and a podcast RSS feed a podcast app can subscribe to.

Pure functions of the playlist and its items. Titles and notes come from feeds and users, so
nothing is pasted into markup: XML is built as a tree (ElementTree escapes it), M3U lines are
flattened to one line each, and only plain http(s) audio links are exported, so a shared
playlist cannot make someone's player open a local file.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from tellmemore.playlists.rows.playlists import Playlist, PlaylistItem

JSON_FORMAT = "tellmemore.playlist/1"
M3U_MEDIA_TYPE = "audio/x-mpegurl"
RSS_MEDIA_TYPE = "application/rss+xml"
NAMESPACES = {
    "itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd",
    "podcast": "https://podcastindex.org/namespace/1.0",
    "atom": "http://www.w3.org/2005/Atom",
}

# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SPACES = re.compile(r"\s+")
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


def seconds(value: float) -> str:
    """Seconds as players read them: ``750``, ``12.5`` (at most millisecond precision)."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def clock(value: float) -> str:
    """Seconds as people read them: ``12:30``, ``1:02:03``."""
    whole = round(value)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _one_line(text: str | None) -> str:
    return _SPACES.sub(" ", _NOT_XML.sub(" ", text or "")).strip()


def _xml(text: str | None) -> str:
    return _NOT_XML.sub("", text or "")


def http_url(url: str | None) -> str | None:
    """The link if it is a plain http(s) URL (unsafe characters percent-encoded, any fragment
    dropped); None otherwise."""
    if not url:
        return None
    try:
        parts = urlsplit(quote(url.strip(), safe=_URL_SAFE))
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))


def media_url(item: PlaylistItem) -> str | None:
    """The item's audio; a time range as a W3C media fragment (``#t=start,end``)."""
    url = http_url(item.enclosure_url)
    if url is None or item.start_s is None or item.end_s is None:
        return url
    return f"{url}#t={seconds(item.start_s)},{seconds(item.end_s)}"


def label(item: PlaylistItem) -> str:
    """``Podcast — Episode``, on one line."""
    return f"{_one_line(item.podcast_title)} — {_one_line(item.episode_title)}"


def filename(playlist: Playlist, extension: str) -> str:
    """A safe download name from the title (ASCII letters, digits and dashes)."""
    slug = re.sub(r"[^a-z0-9]+", "-", playlist.title.lower()).strip("-")[:60].strip("-")
    return f"{slug or 'playlist'}.{extension}"


def to_json(
    playlist: Playlist, items: Sequence[PlaylistItem], *, exported_at: datetime
) -> dict[str, Any]:
    """The whole playlist as one JSON-ready document, versioned by ``format``."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "format": JSON_FORMAT,
        "exported_at": exported_at.isoformat(),
        "playlist": {
            "id": str(playlist.id),
            "title": playlist.title,
            "description": playlist.description,
            "kind": playlist.kind,
            "topic": playlist.topic,
            "version": playlist.version,
            "created_at": iso(playlist.created_at),
            "updated_at": iso(playlist.updated_at),
            "refreshed_at": iso(playlist.refreshed_at),
        },
        "items": [
            {
                "position": item.position,
                "episode_id": str(item.episode_id),
                "episode_title": item.episode_title,
                "podcast_id": str(item.podcast_id),
                "podcast_title": item.podcast_title,
                "published_at": iso(item.published_at),
                "episode_link": item.episode_link,
                "enclosure_url": item.enclosure_url,
                "enclosure_type": item.enclosure_type,
                "media_url": media_url(item),
                "start_s": item.start_s,
                "end_s": item.end_s,
                "duration_s": item.length_s,
                "note": item.note,
                "reason": item.reason,
                "summary": item.summary,
                "added_by": item.added_by,
                "added_at": iso(item.added_at),
            }
            for item in items
        ],
    }


def to_m3u(playlist: Playlist, items: Sequence[PlaylistItem]) -> str:
    """An extended M3U playlist; ranges carry VLC's start/stop options and a media fragment.
    Items without a usable audio link are left out."""
    lines = ["#EXTM3U", f"#PLAYLIST:{_one_line(playlist.title)}"]
    for item in items:
        url = media_url(item)
        if url is None:
            continue
        length = item.length_s
        lines.append(f"#EXTINF:{round(length) if length else -1},{label(item)}")
        if item.start_s is not None and item.end_s is not None:
            lines.append(f"#EXTVLCOPT:start-time={seconds(item.start_s)}")
            lines.append(f"#EXTVLCOPT:stop-time={seconds(item.end_s)}")
        lines.append(url)
    return "\n".join(lines) + "\n"


def _describe(item: PlaylistItem) -> str:
    where = f"“{_one_line(item.episode_title)}” from {_one_line(item.podcast_title)}"
    if item.start_s is not None and item.end_s is not None:
        where = f"{clock(item.start_s)} to {clock(item.end_s)} of {where}"
    parts = [where + "."]
    parts += [text.strip() for text in (item.note, item.reason, item.summary) if text]
    return _xml("\n\n".join(parts))


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    prefix, _, name = tag.rpartition(":")
    element = ET.SubElement(parent, f"{{{NAMESPACES[prefix]}}}{name}" if prefix else tag, attrs)
    if text is not None:
        element.text = _xml(text)
    return element


def to_rss(
    playlist: Playlist,
    items: Sequence[PlaylistItem],
    *,
    link: str,
    self_url: str,
    built_at: datetime,
) -> bytes:
    """A podcast feed (RSS 2.0 with the iTunes and Podcasting 2.0 namespaces) with one item per
    playlist entry, in playlist order (a serial show numbered by position). A time range is a
    ``podcast:soundbite`` of the whole episode's enclosure."""
    for prefix, uri in NAMESPACES.items():
        ET.register_namespace(prefix, uri)
    rss = ET.Element("rss", {"version": "2.0"})
    channel = _sub(rss, "channel")
    _sub(channel, "title", playlist.title)
    _sub(channel, "link", link)
    _sub(channel, "description", playlist.description or "A Tell Me More playlist.")
    _sub(channel, "atom:link", href=self_url, rel="self", type=RSS_MEDIA_TYPE)
    _sub(channel, "generator", "Tell Me More")
    _sub(channel, "lastBuildDate", format_datetime(built_at))
    _sub(channel, "itunes:type", "serial")
    if playlist.visibility != "public":  # keep directories from listing a private link
        _sub(channel, "itunes:block", "Yes")
    for item in items:
        url = media_url(item)
        if url is None:
            continue
        entry = _sub(channel, "item")
        title = _one_line(item.episode_title)
        if item.start_s is not None and item.end_s is not None:
            title += f" ({clock(item.start_s)}\u2013{clock(item.end_s)})"
        _sub(entry, "title", title)
        _sub(entry, "description", _describe(item))
        _sub(entry, "guid", f"tellmemore:playlist-item:{item.id}", isPermaLink="false")
        _sub(entry, "enclosure", url=url, type=item.enclosure_type or "audio/mpeg",
             length=str(item.enclosure_length or 0))  # fmt: skip
        _sub(entry, "pubDate", format_datetime(item.added_at))
        if (episode_link := http_url(item.episode_link)) is not None:
            _sub(entry, "link", episode_link)
        _sub(entry, "itunes:author", _one_line(item.podcast_title))
        _sub(entry, "itunes:episode", str(item.position + 1))
        if item.length_s:
            _sub(entry, "itunes:duration", str(round(item.length_s)))
        if (image := http_url(item.image_url)) is not None:
            _sub(entry, "itunes:image", href=image)
        if item.start_s is not None and item.end_s is not None:
            _sub(entry, "podcast:soundbite", title, startTime=seconds(item.start_s),
                 duration=seconds(item.end_s - item.start_s))  # fmt: skip
    feed: bytes = ET.tostring(rss, encoding="utf-8", xml_declaration=True)
    return feed
