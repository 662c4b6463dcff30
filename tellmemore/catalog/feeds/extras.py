"""What feedparser drops, read in a second, safe XML pass.

feedparser keeps only the last of repeated ``podcast:transcript`` elements, yet feeds list one
per format and language; and it turns ``itunes:explicit`` values other than yes/clean (Apple now
asks for true/false) into ``None``. Items are keyed by guid, enclosure URL or title so the caller
can pair them with feedparser's entries.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from defusedxml import ElementTree as SafeET

from tellmemore.catalog.types import ChaptersLink, TranscriptLink


@dataclass(frozen=True)
class ItemExtras:
    """The namespace elements of one ``<item>``, plus what identifies that item."""

    guid: str | None
    enclosure_url: str | None
    title: str | None
    transcripts: tuple[TranscriptLink, ...]
    chapters: ChaptersLink | None
    explicit: str | None


@dataclass(frozen=True)
class FeedExtras:
    explicit: str | None
    items: list[ItemExtras]


_ITUNES = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"


def _is_podcast_ns(tag: str, local: str) -> bool:
    if not tag.startswith("{") or not tag.endswith("}" + local):
        return False
    ns = tag[1 : -len(local) - 1].lower()
    return "podcastindex" in ns or "podcast-namespace" in ns


def _text(el: ET.Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    return el.text.strip() or None


def read_extras(body: bytes) -> FeedExtras | None:
    """The extras of the channel and of every RSS item in document order, or ``None`` if the
    XML is not well-formed (the caller then keeps what feedparser found)."""
    try:
        root = SafeET.fromstring(body)
    except Exception:  # defusedxml raises ParseError and its own refusals alike
        return None
    items: list[ItemExtras] = []
    for item in root.iter("item"):
        transcripts: list[TranscriptLink] = []
        chapters: ChaptersLink | None = None
        for child in item:
            if _is_podcast_ns(child.tag, "transcript"):
                url = (child.get("url") or "").strip()
                if url:
                    transcripts.append(
                        TranscriptLink(
                            url=url,
                            type=(child.get("type") or "").strip().lower() or "text/plain",
                            language=(child.get("language") or "").strip() or None,
                            rel=(child.get("rel") or "").strip() or None,
                        )
                    )
            elif _is_podcast_ns(child.tag, "chapters") and chapters is None:
                url = (child.get("url") or "").strip()
                if url:
                    chapters = ChaptersLink(url=url, type=(child.get("type") or "").strip() or None)
        enclosure = item.find("enclosure")
        items.append(
            ItemExtras(
                guid=_text(item.find("guid")),
                enclosure_url=(enclosure.get("url") or "").strip() or None
                if enclosure is not None
                else None,
                title=_text(item.find("title")),
                transcripts=tuple(dict.fromkeys(transcripts)),
                chapters=chapters,
                explicit=_text(item.find(_ITUNES + "explicit")),
            )
        )
    channel = root.find("channel")
    explicit = _text(channel.find(_ITUNES + "explicit")) if channel is not None else None
    return FeedExtras(explicit, items)
