"""Feed parsing without the network: identity rules, the podcast namespace, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from tellmemore.catalog import parse_feed, repair_xml
from tellmemore.errors import FeedError

FEEDS = Path(__file__).parent.parent / "fixtures" / "feeds"


def _feed(name: str) -> bytes:
    return (FEEDS / name).read_bytes().replace(b"{{base}}", b"http://feeds.example")


def test_identity_keys_are_unique_and_stable() -> None:
    first = parse_feed(_feed("quirks.xml"), url="http://feeds.example/quirks.xml")
    again = parse_feed(_feed("quirks.xml"), url="http://elsewhere.example/moved.xml")
    keys = [e.identity_key for e in first.episodes]
    assert len(keys) == len(set(keys)) == 6
    assert keys == [e.identity_key for e in again.episodes]  # the fetch URL plays no part
    assert [e.content_hash for e in first.episodes] == [e.content_hash for e in again.episodes]


def test_same_enclosure_different_items_get_distinct_keys() -> None:
    body = b"""<rss version="2.0"><channel><title>t</title>
      <item><title>Part 1</title><enclosure url="https://x.example/a.mp3"/></item>
      <item><title>Part 2</title><enclosure url="https://x.example/a.mp3?v=2"/></item>
    </channel></rss>"""
    feed = parse_feed(body, url="http://x.example/f")
    a, b = (e.identity_key for e in feed.episodes)
    assert a != b and b.startswith(a + "#")


def test_items_without_guid_or_enclosure_fall_back_to_link_then_title() -> None:
    body = b"""<rss version="2.0"><channel><title>t</title>
      <item><title>Linked</title><link>https://x.example/post/1</link></item>
      <item><title>Bare</title><pubDate>Mon, 02 Nov 2026 08:00:00 GMT</pubDate></item>
    </channel></rss>"""
    linked, bare = parse_feed(body, url="http://x.example/f").episodes
    assert linked.identity_key.startswith("link:")
    assert bare.identity_key.startswith("item:")


def test_all_transcripts_and_chapters_are_read() -> None:
    feed = parse_feed(_feed("basic.xml"), url="http://feeds.example/basic.xml")
    first = feed.episodes[0]
    assert [(t.type, t.language) for t in first.transcripts] == [
        ("text/vtt", "en"), ("application/json", "en"), ("application/x-subrip", "es"),
    ]  # fmt: skip
    assert first.chapters is not None and first.chapters.url.endswith("42-chapters.json")
    assert feed.episodes[1].transcripts == ()


def test_new_feed_url_is_reported() -> None:
    feed = parse_feed(_feed("moved_old.xml"), url="http://feeds.example/feeds/moved_old.xml")
    assert feed.new_feed_url == "http://feeds.example/feeds/moved_new.xml"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "feed_empty"),
        (b"   \n", "feed_empty"),
        (b"<!DOCTYPE html><html><body>x</body></html>", "not_a_feed"),
        (b"<!-- hi --><html lang='en'><head></head></html>", "not_a_feed"),
        (b"<?xml version='1.0'?><note><to>x</to></note>", "not_a_feed"),
        (b"<rss version='2.0'><channel><title>x</title><item><title>cut", "feed_malformed"),
        (b"\x00\x01\x02garbage", "feed_malformed"),
    ],
)
def test_refusals(body: bytes, code: str) -> None:
    with pytest.raises(FeedError) as caught:
        parse_feed(body, url="http://x.example/f")
    assert caught.value.code == code


def test_repair_escapes_bare_ampersands_and_html_entities_outside_cdata() -> None:
    body = b"<t>A & B &nbsp; &amp; &#38; <![CDATA[keep & this &nbsp;]]> &bogus;</t>"
    assert repair_xml(body) == (
        b"<t>A &amp; B &#160; &amp; &#38; <![CDATA[keep & this &nbsp;]]> &amp;bogus;</t>"
    )
    feed = parse_feed(_feed("recoverable.xml"), url="http://x.example/f")
    assert feed.title == "Rock & Roll History"
    assert feed.episodes[0].title == "Sex & drugs & rock"
    assert feed.warnings


def test_only_absolute_http_urls_are_kept() -> None:
    """What a feed gives us to store and hand to players, links and exports: absolute http(s)
    URLs only. A ``javascript:`` enclosure would otherwise reach an audio element's src and an
    M3U file; relative ones are dropped rather than resolved, so that an episode's identity
    never depends on where the feed was fetched from."""
    body = b"""<rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0"
      xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel><title>t</title>
      <link>javascript:alert(1)</link><itunes:image href="https://x.example/art/show.jpg"/>
      <item><guid>1</guid><title>Script</title><link>data:text/html,hi</link>
        <enclosure url="javascript:alert(document.cookie)" type="audio/mpeg"/>
        <podcast:transcript url="file:///etc/passwd" type="text/plain"/>
        <podcast:transcript url="https://x.example/t/1.vtt" type="text/vtt"/>
        <podcast:chapters url="gopher://x.example/1" type="application/json+chapters"/></item>
      <item><guid>2</guid><title>Spaces</title><link>/episodes/2</link>
        <enclosure url=" https://x.example/audio/My Episode 2.mp3 " type="audio/mpeg"/>
        <itunes:image href="//x.example/art/2.jpg"/>
        <podcast:chapters url="https://x.example/2.json" type="application/json+chapters"/></item>
      <item><guid>3</guid><title>Broken</title>
        <enclosure url="http://[::1" type="audio/mpeg"/></item>
    </channel></rss>"""
    feed = parse_feed(body, url="https://x.example/feeds/show.xml")
    assert feed.link is None
    assert feed.image_url == "https://x.example/art/show.jpg"
    script, spaces, broken = feed.episodes
    assert script.enclosure_url is None and script.link is None and script.chapters is None
    assert [t.url for t in script.transcripts] == ["https://x.example/t/1.vtt"]
    assert spaces.enclosure_url == "https://x.example/audio/My Episode 2.mp3"
    assert spaces.link is None and spaces.image_url is None
    assert spaces.chapters is not None and spaces.chapters.url == "https://x.example/2.json"
    assert broken.enclosure_url is None
