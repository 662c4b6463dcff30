"""OPML reading and writing without the network."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from tellmemore.catalog import Podcast, parse_opml, render_opml
from tellmemore.errors import CatalogError


def test_nested_folders_and_attribute_spellings() -> None:
    doc = b"""<?xml version="1.0"?><opml version="2.0"><head/><body>
      <outline text="News"><outline text="Daily">
        <outline type="rss" text="A" xmlUrl="https://a.example/rss"/></outline></outline>
      <outline type="rss" title="B" xmlurl="https://b.example/rss" htmlUrl="https://b.example"/>
      <outline type="rss" text="C" url="https://c.example/rss"/>
      <outline type="link" text="Just a link" url="https://d.example/"/>
      <outline type="rss" text="A again" xmlUrl="HTTPS://A.example/rss"/>
    </body></opml>"""
    entries = parse_opml(doc, max_entries=10)
    assert [(e.title, e.feed_url, e.folder, e.error_code) for e in entries] == [
        ("A", "https://a.example/rss", ("News", "Daily"), None),
        ("B", "https://b.example/rss", (), None),
        ("C", "https://c.example/rss", (), None),
        ("A again", "HTTPS://A.example/rss", (), "opml_duplicate_entry"),
    ]
    assert entries[1].html_url == "https://b.example"


def test_entry_limit() -> None:
    outlines = b"".join(
        b'<outline type="rss" xmlUrl="https://x.example/%d"/>' % i for i in range(6)
    )
    with pytest.raises(CatalogError) as caught:
        parse_opml(b"<opml><body>" + outlines + b"</body></opml>", max_entries=5)
    assert caught.value.code == "opml_too_many_entries"


def test_render_escapes_and_parses_back() -> None:
    now = datetime.now(UTC)
    podcast = Podcast(
        id=uuid4(), feed_url="https://x.example/rss?a=1&b=2", title='Tom & "Jerry" <live>',
        author=None, description=None, description_html=None, link="https://x.example/",
        image_url=None, language=None, categories=[], explicit=None, apple_id=None, private=False,
        episode_count=0, previous_feed_urls=[], last_fetched_at=None, last_success_at=None,
        last_error_code=None, last_error=None, parse_warning=None, created_at=now, updated_at=now,
    )  # fmt: skip
    (entry,) = parse_opml(render_opml([podcast]), max_entries=10)
    assert entry.feed_url == podcast.feed_url
    assert entry.title == podcast.title
    assert entry.html_url == "https://x.example/"
