"""Daily quotas per account: feeds added (one by one or as OPML entries) and episodes queued.
Over a quota is 429 ``quota_exceeded`` with a sentence and the numbers, and nothing is fetched;
episodes are queued as far as the quota goes."""

from __future__ import annotations

from typing import Any

from tellmemore.settings import QuotaSettings, Settings
from tests.conftest import bearer, opml_fixture, register, serve
from tests.storage.helpers import rows
from tests.support.http_server import LoopbackHTTPServer


def _with(settings: Settings, **quotas: Any) -> Settings:
    return settings.model_copy(update={"quotas": QuotaSettings(**quotas)})


def _fetches(feeds: LoopbackHTTPServer) -> int:
    return sum(len(feeds.hits(f"/feeds/{n}")) for n in ("basic.xml", "quirks.xml", "atom.xml"))


async def test_feeds_per_day(settings: Settings, feeds: LoopbackHTTPServer, clean_db: None) -> None:
    async with serve(_with(settings, feeds_per_day=2)) as http:
        http.headers.update(bearer((await register(http))["tokens"]))
        for name in ("basic.xml", "quirks.xml"):
            added = await http.post("/podcasts", json={"feed_url": feeds.url(f"/feeds/{name}")})
            assert added.status_code == 201, added.text
        fetched = _fetches(feeds)
        over = await http.post("/podcasts", json={"feed_url": feeds.url("/feeds/atom.xml")})
        assert over.status_code == 429, over.text
        error = over.json()["error"]
        assert error["code"] == "quota_exceeded" and "0 of 2 left today" in error["message"]
        assert error["details"] == {"quota": "feeds_per_day", "limit": 2, "remaining": 0,
                                    "requested": 1}  # fmt: skip
        assert 0 < int(over.headers["Retry-After"]) <= 86400
        assert _fetches(feeds) == fetched  # refused before anything was fetched

        # Someone else's quota is their own; subscribing to a podcast already in the catalog
        # fetches nothing and costs nothing.
        other = bearer((await register(http))["tokens"])
        for _ in range(3):
            again = await http.post("/podcasts", headers=other,
                                    json={"feed_url": feeds.url("/feeds/basic.xml")})  # fmt: skip
            assert again.status_code in (200, 409), again.text
        fresh = await http.post("/podcasts", headers=other,
                                json={"feed_url": feeds.url("/feeds/atom.xml")})  # fmt: skip
        assert fresh.status_code == 201, fresh.text


async def test_an_opml_import_larger_than_what_is_left_is_refused_whole(
    settings: Settings, feeds: LoopbackHTTPServer, clean_db: None
) -> None:
    async with serve(_with(settings, feeds_per_day=2)) as http:
        http.headers.update(bearer((await register(http))["tokens"]))
        over = await http.post("/opml/import", content=opml_fixture("nested.opml", feeds),
                               headers={"Content-Type": "text/x-opml"})  # fmt: skip
        assert over.status_code == 429, over.text
        assert over.json()["error"]["details"]["requested"] == 3
        assert (
            feeds.hits("/feeds/basic.xml") == []
            and rows(settings.database.url, "SELECT id FROM podcasts") == []
        )


async def test_episodes_are_queued_as_far_as_the_quota_goes(
    settings: Settings, feeds: LoopbackHTTPServer, clean_db: None
) -> None:
    """enqueue_newest is 3: the first subscription queues 3, the second the 1 left, the third
    none, and every subscription itself succeeds."""
    async with serve(_with(settings, episodes_per_day=4)) as http:
        http.headers.update(bearer((await register(http))["tokens"]))
        queued = []
        for name in ("quirks.xml", "basic.xml", "atom.xml"):
            added = await http.post("/podcasts", json={"feed_url": feeds.url(f"/feeds/{name}")})
            assert added.status_code == 201, added.text
            podcast = added.json()["podcast"]["id"]
            states = rows(settings.database.url,
                          "SELECT status FROM episodes WHERE podcast_id = %s", podcast)  # fmt: skip
            assert len(states) >= (2 if name != "atom.xml" else 1)  # the quota is the limit
            queued.append(sum(1 for s in states if s["status"] == "queued"))
    assert queued == [3, 1, 0]
