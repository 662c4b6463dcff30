"""URL rules: what may be fetched, what compares equal, what identifies an episode."""

from __future__ import annotations

import pytest

from tellmemore.catalog import enclosure_identity, parse_http_url, url_key
from tellmemore.catalog.feeds.addresses import AddressPolicy, checked_addresses
from tellmemore.errors import FeedError


def test_enclosure_identity_ignores_tokens_and_tracking_prefixes() -> None:
    plain = enclosure_identity("https://cdn.example.com/show/ep1.mp3")
    assert enclosure_identity("https://cdn.example.com/show/ep1.mp3?token=abc&exp=1") == plain
    assert enclosure_identity("https://CDN.example.com/show/ep1.mp3#t=10") == plain
    for wrapped in (
        "https://dts.podtrac.com/redirect.mp3/cdn.example.com/show/ep1.mp3",
        "https://www.podtrac.com/pts/redirect.mp3/cdn.example.com/show/ep1.mp3",
        "https://chtbl.com/track/ABC123/cdn.example.com/show/ep1.mp3",
        "https://pdst.fm/e/chtbl.com/track/ABC123/cdn.example.com/show/ep1.mp3?sig=z",
        "https://op3.dev/e/cdn.example.com/show/ep1.mp3",
    ):
        assert enclosure_identity(wrapped) == plain, wrapped
    assert enclosure_identity("https://cdn.example.com/show/ep2.mp3") != plain
    assert plain.startswith("enc:") and len(plain) == 36


def test_url_key_folds_only_what_does_not_matter() -> None:
    a = url_key("HTTPS://Feeds.Example.com:443/show/rss?format=xml#top")
    assert a == url_key("https://feeds.example.com/show/rss?format=xml")
    assert a != url_key("https://feeds.example.com/show/rss?format=json")
    assert url_key("http://example.com") == url_key("http://example.com:80/")
    assert url_key("http://example.com:8080/") != url_key("http://example.com/")


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://x.example/f", "url_scheme_not_allowed"),
        ("data:text/xml,<rss/>", "url_scheme_not_allowed"),
        ("//x.example/f", "url_scheme_not_allowed"),
        ("https:///path", "url_invalid"),
        ("http://x.example:0/", "url_invalid"),
        ("http://x.example:abc/", "url_invalid"),
        ("http://x.example/" + "a" * 3000, "url_invalid"),
    ],
)
def test_parse_http_url_refusals(url: str, code: str) -> None:
    with pytest.raises(FeedError) as caught:
        parse_http_url(url)
    assert caught.value.code == code


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.8.8.8", "[::1]", "10.0.0.1", "172.16.5.4", "192.168.1.1",
     "169.254.169.254", "0.0.0.0", "[::ffff:127.0.0.1]", "[fd00::1]", "224.0.0.1", "localhost"],
)  # fmt: skip
async def test_private_and_special_hosts_are_refused(host: str) -> None:
    parts = parse_http_url(f"http://{host}/feed.xml")
    with pytest.raises(FeedError) as caught:
        await checked_addresses(parts.hostname or "", 80, AddressPolicy())
    assert caught.value.code == "url_host_forbidden"
    # Tests and the local demo allow them.
    await checked_addresses(parts.hostname or "", 80, AddressPolicy(allow_private=True))


async def test_public_addresses_pass() -> None:
    for url in ("http://8.8.8.8/feed.xml", "http://[2001:4860::8888]/f"):
        await checked_addresses(parse_http_url(url).hostname or "", 80, AddressPolicy())
