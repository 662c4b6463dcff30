"""Podcast reads come from Redis until the catalog changes."""

from __future__ import annotations

import re
import uuid

from httpx import AsyncClient

from tellmemore.metrics import exposition
from tests.conftest import FIXTURES
from tests.support.http_server import LoopbackHTTPServer


def _count(result: str) -> float:
    text = exposition().decode()
    match = re.search(rf'tmm_cache_requests_total{{cache="catalog",result="{result}"}} (\S+)', text)
    return float(match.group(1)) if match else 0.0


async def test_podcast_reads_are_cached_and_refreshed_by_catalog_writes(
    client: AsyncClient, feed_server: LoopbackHTTPServer
) -> None:
    body = (FIXTURES / "feeds" / "basic.xml").read_bytes()
    path = f"/cache-{uuid.uuid4().hex[:8]}/feed.xml"
    url = feed_server.add(path, body=body, content_type="application/rss+xml")
    added = await client.post("/podcasts", json={"feed_url": url})
    assert added.status_code == 201, added.text
    podcast_id = added.json()["podcast"]["id"]

    first = (await client.get(f"/podcasts/{podcast_id}")).json()
    hits, misses = _count("hit"), _count("miss")
    second = (await client.get(f"/podcasts/{podcast_id}")).json()
    assert first == second and first["title"] == "Gene Editing Today"
    assert (_count("hit"), _count("miss")) == (hits + 1, misses)  # from Redis
    listed = (await client.get("/podcasts")).json()["items"]
    assert [p["id"] for p in listed] == [podcast_id]

    # The publisher renames the show; a refresh writes it and drops the cached reads.
    renamed = body.replace(b"<title>Gene Editing Today</title>", b"<title>Editing Genes</title>", 1)
    feed_server.add(path, body=renamed, content_type="application/rss+xml")
    refreshed = await client.post(f"/podcasts/{podcast_id}/refresh")
    assert refreshed.status_code == 200, refreshed.text
    assert (await client.get(f"/podcasts/{podcast_id}")).json()["title"] == "Editing Genes"
    assert (await client.get("/podcasts")).json()["items"][0]["title"] == "Editing Genes"

    # A failed fetch is recorded on the podcast, and shows at once too.
    feed_server.add(path, status=500, body=b"down")
    failed = await client.post(f"/podcasts/{podcast_id}/refresh")
    assert failed.status_code >= 400
    podcast = (await client.get(f"/podcasts/{podcast_id}")).json()
    assert podcast["last_error_code"] is not None


async def test_an_unknown_podcast_is_not_cached_as_found(client: AsyncClient) -> None:
    missing = f"/podcasts/{uuid.uuid4()}"
    for _ in range(2):
        response = await client.get(missing)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "podcast_not_found"
