"""Apple Podcasts discovery against a local server speaking the iTunes Search API format."""

from __future__ import annotations

from httpx import AsyncClient

from tests.support.apple import FakeApple
from tests.support.http_server import LoopbackHTTPServer


async def test_search_returns_apples_results_normalised(
    client: AsyncClient, fake_apple: FakeApple, feeds: LoopbackHTTPServer
) -> None:
    response = await client.get("/discover/apple", params={"term": "gene"})
    assert response.status_code == 200, response.text
    results = response.json()
    assert [r["apple_id"] for r in results] == [1200361736, 1690012345]
    first = results[0]
    assert first["title"] == "Gene Editing Today"
    assert first["author"] == "Harbor Science Radio"
    assert first["feed_url"] == feeds.url("/feeds/basic.xml")
    assert first["artwork_url"].endswith("600x600bb.jpg")
    assert first["genres"] == ["Life Sciences", "Science"]
    assert first["episode_count"] == 212
    assert first["podcast_id"] is None
    # An Apple-only show has no feedUrl: reported, not dropped.
    assert results[1]["feed_url"] is None
    search = fake_apple.server.hits("/search")[-1]
    assert search.path == "/search"


async def test_results_are_cached(client: AsyncClient, fake_apple: FakeApple) -> None:
    for _ in range(3):
        assert (await client.get("/discover/apple", params={"term": "ocean"})).status_code == 200
    # Whitespace and case do not defeat the cache.
    await client.get("/discover/apple", params={"term": "  OCEAN "})
    assert fake_apple.calls() == 1


async def test_add_by_apple_id_and_mark_known(client: AsyncClient, fake_apple: FakeApple) -> None:
    response = await client.post("/podcasts", json={"apple_id": 1200361736})
    assert response.status_code == 201, response.text
    podcast = response.json()["podcast"]
    assert podcast["apple_id"] == 1200361736
    assert podcast["title"] == "Gene Editing Today"
    again = await client.post("/podcasts", json={"apple_id": 1200361736})
    assert again.status_code == 409
    assert again.json()["error"]["details"]["podcast_id"] == podcast["id"]
    results = (await client.get("/discover/apple", params={"term": "gene"})).json()
    assert results[0]["podcast_id"] == podcast["id"]


async def test_apple_only_show_and_unknown_id(client: AsyncClient, fake_apple: FakeApple) -> None:
    no_feed = await client.post("/podcasts", json={"apple_id": 1690012345})
    assert no_feed.status_code == 422
    assert no_feed.json()["error"]["code"] == "apple_no_feed"
    unknown = await client.post("/podcasts", json={"apple_id": 999})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "apple_not_found"


async def test_apple_throttling_is_a_clear_upstream_error(
    client: AsyncClient, fake_apple: FakeApple
) -> None:
    fake_apple.throttled = True
    response = await client.get("/discover/apple", params={"term": "gene"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "apple_throttled"
    assert int(response.headers["Retry-After"]) > 0


async def test_our_own_budget_stops_before_apple_does(
    client: AsyncClient, fake_apple: FakeApple
) -> None:
    """At most calls_per_minute (20 in tests) calls reach Apple; the next answers 503 at once."""
    statuses = [
        (await client.get("/discover/apple", params={"term": f"term {i}"})).status_code
        for i in range(21)
    ]
    assert statuses[:20] == [200] * 20
    assert statuses[20] == 503
    assert fake_apple.calls() == 20


async def test_search_input_bounds(client: AsyncClient, fake_apple: FakeApple) -> None:
    cases: list[dict[str, str | int]] = [
        {"term": ""}, {"term": "x" * 201}, {"term": "a", "limit": 0},
        {"term": "a", "limit": 500}, {"term": "a", "country": "USA"},
    ]  # fmt: skip
    for params in cases:
        response = await client.get("/discover/apple", params=params)
        assert response.status_code == 422, params
        assert response.json()["error"]["code"] == "validation_error"
    assert fake_apple.calls() == 0
