"""Bad input: every case gets a 4xx with a machine-readable code and a readable message, and
nothing already stored is lost or duplicated."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from httpx import AsyncClient

from tellmemore.settings import FeedSettings, Settings
from tests.conftest import bearer, register, serve
from tests.storage.helpers import snapshot
from tests.support.http_server import LoopbackHTTPServer


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert len(error["message"]) >= 15, error  # a sentence, not a bare status
    return error


async def _seed(client: AsyncClient, feeds: LoopbackHTTPServer) -> str:
    response = await client.post("/podcasts", json={"feed_url": feeds.url("/feeds/basic.xml")})
    assert response.status_code == 201
    podcast_id: str = response.json()["podcast"]["id"]
    return podcast_id


@pytest.mark.parametrize(
    ("path", "route", "code"),
    [
        ("/feeds/malformed.xml", None, "feed_malformed"),
        ("/feeds/page.html", None, "not_a_feed"),
        ("/x/empty.xml", {"body": b""}, "feed_empty"),
        (
            "/x/json.xml",
            {"body": b'{"feed": true}', "content_type": "application/json"},
            "feed_malformed",
        ),
        (
            "/x/opml-not-feed.xml",
            {"body": b"<?xml version='1.0'?><opml><body/></opml>"},
            "not_a_feed",
        ),
        ("/x/huge.xml", {"body": b"<rss>" + b" " * (300 * 1024) + b"</rss>"}, "feed_too_large"),
        ("/x/huge-undeclared.xml", None, "feed_too_large"),
        ("/x/slow.xml", {"body": b"<rss/>", "delay_s": 2.5}, "feed_timeout"),
        ("/x/missing.xml", {"status": 404}, "feed_not_found"),
        ("/x/broken.xml", {"status": 500, "body": b"Internal Server Error"}, "feed_http_error"),
        ("/x/private.xml", {"status": 403}, "feed_forbidden"),
        (
            "/x/loop.xml",
            {"status": 302, "headers": {"Location": "/x/loop.xml"}},
            "feed_too_many_redirects",
        ),
    ],
)
async def test_unusable_feed_urls(
    client: AsyncClient,
    feeds: LoopbackHTTPServer,
    database_url: str,
    path: str,
    route: dict[str, Any] | None,
    code: str,
) -> None:
    await _seed(client, feeds)
    before = snapshot(database_url)
    if route is not None:
        feeds.add(path, **route)
    if path == "/x/huge-undeclared.xml":
        # Chunked, with no Content-Length: the limit must hold while reading.
        feeds.add(path, body=b"<rss>" + b"x" * (300 * 1024) + b"</rss>", chunked=True)
    response = await client.post("/podcasts", json={"feed_url": feeds.url(path)})
    _error(response, 422, code)
    assert snapshot(database_url) == before


async def test_unreachable_host(client: AsyncClient, feeds: LoopbackHTTPServer) -> None:
    # A port nothing listens on (reserved, then closed).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    response = await client.post(
        "/podcasts", json={"feed_url": f"http://127.0.0.1:{port}/feed.xml"}
    )
    _error(response, 422, "feed_unreachable")


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://files.example.com/feed.xml", "url_scheme_not_allowed"),
        ("file:///etc/passwd", "url_scheme_not_allowed"),
        ("javascript:alert(1)", "url_scheme_not_allowed"),
        ("feeds.example.com/rss", "url_scheme_not_allowed"),
        ("http://", "url_invalid"),
        ("http://example.com:99999/feed", "url_invalid"),
        ("   ", "validation_error"),
    ],
)
async def test_invalid_urls(client: AsyncClient, url: str, code: str) -> None:
    _error(await client.post("/podcasts", json={"feed_url": url}), 422, code)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/feeds/basic.xml",
        "http://localhost:{port}/feeds/basic.xml",
        "http://[::1]:{port}/feeds/basic.xml",
        "http://10.1.2.3/feed.xml",
        "http://169.254.169.254/latest/meta-data/",
        "http://192.168.0.1/feed.xml",
        "http://0.0.0.0:{port}/feed.xml",
    ],
)
async def test_private_hosts_are_refused_when_settings_forbid_them(
    settings: Settings, clean_db: None, feeds: LoopbackHTTPServer, url: str
) -> None:
    strict = settings.model_copy(
        update={
            "feeds": FeedSettings(**{**settings.feeds.model_dump(), "allow_private_hosts": False})
        }
    )
    port = feeds.base_url.rsplit(":", 1)[1]
    async with serve(strict) as http:
        http.headers.update(bearer((await register(http))["tokens"]))
        response = await http.post("/podcasts", json={"feed_url": url.format(port=port)})
    _error(response, 422, "url_host_forbidden")
    assert feeds.hits("/feeds/basic.xml") == []


async def test_duplicate_podcast_is_a_conflict_not_a_copy(
    client: AsyncClient, feeds: LoopbackHTTPServer, database_url: str
) -> None:
    podcast_id = await _seed(client, feeds)
    before = snapshot(database_url)
    spellings = [
        feeds.url("/feeds/basic.xml"),
        feeds.url("/feeds/basic.xml").replace("http://", "HTTP://"),
        feeds.url("/feeds/basic.xml") + "#fragment",
    ]
    for url in spellings:
        error = _error(
            await client.post("/podcasts", json={"feed_url": url}), 409, "already_subscribed"
        )
        assert error["details"]["podcast_id"] == podcast_id
    assert snapshot(database_url) == before


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": 0}, "validation_error"),
        ({"limit": -5}, "validation_error"),
        ({"limit": 10**30}, "validation_error"),
        ({"limit": "lots"}, "validation_error"),
        ({"limit": 51}, "invalid_page_size"),
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
        ({"cursor": "eyJ0IjogMX0"}, "invalid_cursor"),
        ({"cursor": "x" * 600}, "validation_error"),
        ({"published_since": "yesterday"}, "validation_error"),
        (
            {"published_since": "2026-11-05T00:00:00Z", "published_until": "2026-11-01T00:00:00Z"},
            "invalid_date_range",
        ),
    ],
)
async def test_absurd_paging_values(
    client: AsyncClient, feeds: LoopbackHTTPServer, params: dict[str, Any], code: str
) -> None:
    podcast_id = await _seed(client, feeds)
    _error(await client.get(f"/podcasts/{podcast_id}/episodes", params=params), 422, code)
    if "published_since" not in params:
        _error(await client.get("/podcasts", params=params), 422, code)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "request"),
        ({"feed_url": "http://a.example/f", "apple_id": 5}, "request"),
        ({"feed_url": "http://a.example/f", "extra": 1}, "extra"),
        ({"apple_id": -1}, "apple_id"),
        ({"apple_id": "one"}, "apple_id"),
        ({"feed_url": "http://a.example/" + "x" * 3000}, "feed_url"),
    ],
)
async def test_bad_add_requests(client: AsyncClient, body: dict[str, Any], field: str) -> None:
    error = _error(await client.post("/podcasts", json=body), 422, "validation_error")
    assert error["details"]["errors"][0]["field"] == field


async def test_not_found_and_bad_ids(client: AsyncClient) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    _error(await client.get(f"/podcasts/{missing}"), 404, "podcast_not_found")
    _error(await client.get(f"/podcasts/{missing}/episodes"), 404, "podcast_not_found")
    _error(await client.post(f"/podcasts/{missing}/refresh"), 404, "podcast_not_found")
    _error(await client.get(f"/episodes/{missing}"), 404, "episode_not_found")
    _error(await client.get("/podcasts/42"), 422, "validation_error")
    _error(await client.get("/no/such/route"), 404, "not_found")
    _error(await client.delete("/podcasts"), 405, "method_not_allowed")
