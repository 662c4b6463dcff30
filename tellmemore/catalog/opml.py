"""OPML subscription lists: reading (OPML 1.0 and 2.0, nested folders) and writing.

Reading never fails as a whole because one entry is bad: each outline that looks like a
subscription becomes an :class:`OpmlEntry`, carrying an error if it cannot be used, so the good
ones still import. Only a document that is not OPML at all is refused.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Literal
from uuid import UUID

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from tellmemore.catalog.feeds.urls import parse_http_url, url_key
from tellmemore.catalog.types import Podcast
from tellmemore.errors import CatalogError, FeedError


@dataclass(frozen=True)
class OpmlEntry:
    """One subscription outline; ``error`` set when it cannot be imported."""

    feed_url: str | None
    title: str | None
    html_url: str | None
    folder: tuple[str, ...]
    error_code: str | None = None
    error: str | None = None


def _attr(el: ET.Element, name: str) -> str | None:
    """An attribute by case-insensitive name (exporters write xmlUrl, xmlurl and XMLURL)."""
    wanted = name.lower()
    for key, value in el.attrib.items():
        if key.lower() == wanted:
            return value.strip() or None
    return None


def parse_opml(data: bytes, *, max_entries: int) -> list[OpmlEntry]:
    """The subscription entries of an OPML document, in document order, duplicates marked."""
    try:
        root = SafeET.fromstring(data)
    except DefusedXmlException as exc:
        raise CatalogError(
            "opml_forbidden_xml", "The OPML uses XML entities or DTDs, which are not accepted."
        ) from exc
    except ET.ParseError as exc:
        raise CatalogError("opml_malformed", f"The OPML is not well-formed XML ({exc}).") from exc
    if root.tag.lower() != "opml":
        raise CatalogError("opml_invalid", f"The document is <{root.tag}>, not an OPML file.")
    body = next((c for c in root if c.tag.lower() == "body"), None)
    if body is None:
        raise CatalogError("opml_invalid", "The OPML has no <body>.")
    entries: list[OpmlEntry] = []
    seen: set[str] = set()
    for entry in _walk(body, ()):
        if len(entries) >= max_entries:
            raise CatalogError(
                "opml_too_many_entries",
                f"The OPML lists more than {max_entries} feeds; split it into smaller files.",
                details={"limit": max_entries},
            )
        if entry.error is None and entry.feed_url is not None:
            key = url_key(entry.feed_url)
            if key in seen:
                entry = OpmlEntry(
                    entry.feed_url, entry.title, entry.html_url, entry.folder,
                    "opml_duplicate_entry", "This feed is listed earlier in the same file.",
                )  # fmt: skip
            seen.add(key)
        entries.append(entry)
    return entries


def _walk(node: ET.Element, folder: tuple[str, ...]) -> Iterator[OpmlEntry]:
    for outline in node:
        if outline.tag.lower() != "outline":
            continue
        title = _attr(outline, "title") or _attr(outline, "text")
        kind = (_attr(outline, "type") or "").lower()
        feed_url = _attr(outline, "xmlUrl") or (_attr(outline, "url") if kind == "rss" else None)
        if feed_url is not None:
            yield _entry(feed_url, title, _attr(outline, "htmlUrl"), folder)
        elif kind == "rss":
            yield OpmlEntry(
                None, title, None, folder, "opml_entry_no_url", "This entry has no feed URL."
            )
        if len(outline):
            yield from _walk(outline, (*folder, title) if title and feed_url is None else folder)


def _entry(url: str, title: str | None, html_url: str | None, folder: tuple[str, ...]) -> OpmlEntry:
    try:
        parse_http_url(url)
    except FeedError as exc:
        return OpmlEntry(url, title, html_url, folder, exc.code, exc.message)
    return OpmlEntry(url, title, html_url, folder)


def render_opml(podcasts: Iterable[Podcast], *, title: str = "Tell Me More catalog") -> bytes:
    """An OPML 2.0 document listing ``podcasts``, readable by every podcast app."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = format_datetime(datetime.now(UTC))
    body = ET.SubElement(root, "body")
    for podcast in podcasts:
        attrs = {"type": "rss", "text": podcast.title, "title": podcast.title,
                 "xmlUrl": podcast.feed_url}  # fmt: skip
        if podcast.link:
            attrs["htmlUrl"] = podcast.link
        ET.SubElement(body, "outline", attrs)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


@dataclass(frozen=True)
class OpmlImportItem:
    feed_url: str | None
    title: str | None
    status: Literal["created", "exists", "failed"]
    podcast_id: UUID | None = None
    error_code: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class OpmlImportReport:
    items: list[OpmlImportItem] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for i in self.items if i.status == status)
