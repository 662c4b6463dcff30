"""Refreshing feeds: idempotent re-ingestion, growth, conditional GET, recorded failures."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tellmemore.catalog import Catalog
from tellmemore.settings import Settings
from tellmemore.wiring import open_services
from tests.storage.helpers import rows, snapshot
from tests.support.http_server import LoopbackHTTPServer


async def _add(client: AsyncClient, url: str) -> str:
    response = await client.post("/podcasts", json={"feed_url": url})
    assert response.status_code == 201, response.text
    podcast_id: str = response.json()["podcast"]["id"]
    return podcast_id


async def _refresh(client: AsyncClient, podcast_id: str) -> dict[str, Any]:
    response = await client.post(f"/podcasts/{podcast_id}/refresh")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("feed", ["basic.xml", "quirks.xml", "atom.xml", "moved_old.xml"])
async def test_reingesting_the_same_feed_changes_nothing(
    client: AsyncClient, feeds: LoopbackHTTPServer, database_url: str, feed: str
) -> None:
    podcast_id = await _add(client, feeds.url(f"/feeds/{feed}"))
    before = snapshot(database_url)
    result = await _refresh(client, podcast_id)
    assert (result["added"], result["updated"]) == (0, 0)
    assert snapshot(database_url) == before


async def test_forced_reparse_of_an_unchanged_feed_writes_nothing(
    settings: Settings, feeds: LoopbackHTTPServer, database_url: str, clean_db: None
) -> None:
    async with open_services(settings) as services:
        catalog: Catalog = services.catalog
        added = await catalog.add_feed(feeds.url("/feeds/quirks.xml"))
        before = snapshot(database_url)
        result = await catalog.refresh(added.podcast_id, force=True)
        assert (result.added, result.updated, result.unchanged) == (0, 0, 6)
        assert not result.not_modified
        assert snapshot(database_url) == before


async def test_a_feed_that_adds_episodes_adds_exactly_those(
    client: AsyncClient, feeds: LoopbackHTTPServer, database_url: str
) -> None:
    url = feeds.url("/feeds/grow_v1.xml")
    podcast_id = await _add(client, url)
    first_ids = {r["guid"]: r["id"] for r in rows(database_url, "SELECT guid, id FROM episodes")}
    feeds.add("/feeds/grow_v1.xml", body=feeds.routes["/feeds/grow_v2.xml"].body)
    result = await _refresh(client, podcast_id)
    assert (result["added"], result["updated"]) == (2, 1)
    after = {r["guid"]: r for r in rows(database_url, "SELECT guid, id, title FROM episodes")}
    assert sorted(after) == ["grow-1", "grow-2", "grow-3", "grow-4"]
    # Episodes that were there keep their ids; the corrected title is updated in place;
    # episode 1, gone from the feed, is kept.
    assert after["grow-2"]["id"] == first_ids["grow-2"]
    assert after["grow-2"]["title"] == "Episode 2 (corrected title)"
    assert after["grow-1"]["id"] == first_ids["grow-1"]


async def test_conditional_get_with_etag_and_last_modified(
    client: AsyncClient, feeds: LoopbackHTTPServer, database_url: str
) -> None:
    route = feeds.routes["/feeds/basic.xml"]
    route.etag = '"v1-abc"'
    route.last_modified = "Tue, 17 Nov 2026 10:00:00 GMT"
    podcast_id = await _add(client, feeds.url("/feeds/basic.xml"))
    before = snapshot(database_url)

    result = await _refresh(client, podcast_id)
    assert result["not_modified"] is True
    last = feeds.hits("/feeds/basic.xml")[-1]
    assert last.headers["if-none-match"] == '"v1-abc"'
    assert last.headers["if-modified-since"] == "Tue, 17 Nov 2026 10:00:00 GMT"
    assert snapshot(database_url) == before
    podcast = (await client.get(f"/podcasts/{podcast_id}")).json()
    assert podcast["last_error_code"] is None and podcast["last_fetched_at"] is not None

    # A new version (new ETag) is fetched in full and merged.
    route.etag = '"v2-def"'
    route.body = route.body.replace(b"Prime editing, a primer", b"Prime editing: a primer")
    result = await _refresh(client, podcast_id)
    assert (result["not_modified"], result["updated"]) == (False, 1)
    stored = rows(database_url, "SELECT etag FROM podcasts")
    assert stored[0]["etag"] == '"v2-def"'


@pytest.mark.parametrize(
    ("route", "code"),
    [
        ({"status": 500, "body": b"oops"}, "feed_http_error"),
        ({"status": 404, "body": b"gone"}, "feed_not_found"),
        ({"body": b"<rss version='2.0'><channel><<<"}, "feed_malformed"),
        ({"body": b"<!DOCTYPE html><html><body>hi</body></html>"}, "not_a_feed"),
    ],
)
async def test_a_failed_refresh_is_recorded_and_loses_nothing(
    client: AsyncClient,
    feeds: LoopbackHTTPServer,
    database_url: str,
    route: dict[str, Any],
    code: str,
) -> None:
    podcast_id = await _add(client, feeds.url("/feeds/basic.xml"))
    before = snapshot(database_url)
    feeds.add("/feeds/basic.xml", **route)
    response = await client.post(f"/podcasts/{podcast_id}/refresh")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code
    assert snapshot(database_url) == before
    podcast = (await client.get(f"/podcasts/{podcast_id}")).json()
    assert podcast["last_error_code"] == code
    assert podcast["episode_count"] == 3
    failures = rows(database_url, "SELECT consecutive_failures FROM podcasts")
    assert failures[0]["consecutive_failures"] == 1


async def test_refresh_all_records_per_feed_errors_and_goes_on(
    settings: Settings, feeds: LoopbackHTTPServer, database_url: str, clean_db: None
) -> None:
    async with open_services(settings) as services:
        good = await services.catalog.add_feed(feeds.url("/feeds/grow_v1.xml"))
        bad = await services.catalog.add_feed(feeds.url("/feeds/basic.xml"))
        feeds.add("/feeds/basic.xml", status=503, body=b"down")
        feeds.add("/feeds/grow_v1.xml", body=feeds.routes["/feeds/grow_v2.xml"].body)
        outcomes = {o.podcast_id: o for o in await services.catalog.refresh_all()}
    assert outcomes[bad.podcast_id].error_code == "feed_http_error"
    good_result = outcomes[good.podcast_id].result
    assert good_result is not None and good_result.added == 2
    errors = {
        r["id"]: r["last_error_code"]
        for r in rows(database_url, "SELECT id, last_error_code FROM podcasts")
    }
    assert errors == {bad.podcast_id: "feed_http_error", good.podcast_id: None}


async def test_concurrent_adds_and_refreshes_never_duplicate(
    settings: Settings, feeds: LoopbackHTTPServer, database_url: str, clean_db: None
) -> None:
    import asyncio

    from tellmemore.errors import CatalogError

    url = feeds.url("/feeds/basic.xml")
    async with open_services(settings) as services:
        results = await asyncio.gather(
            *(services.catalog.add_feed(url) for _ in range(4)), return_exceptions=True
        )
        added = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, CatalogError)]
        assert len(added) == 1
        assert len(refused) == 3
        assert {r.code for r in refused} == {"podcast_exists"}
        podcast_id = added[0].podcast_id
        refreshes = await asyncio.gather(
            *(services.catalog.refresh(podcast_id, force=True) for _ in range(4))
        )
        assert sum(r.added for r in refreshes) == 0
    assert len(rows(database_url, "SELECT id FROM podcasts")) == 1
    assert len(rows(database_url, "SELECT id FROM episodes")) == 3
