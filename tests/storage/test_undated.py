"""Newest first means by date: undated episodes (no date, an unreadable one, or one far in the
future) come after every dated episode, in lists and in what subscribing queues, with the raw
date shown."""

from __future__ import annotations

from typing import Any

from tellmemore.settings import Settings
from tests.conftest import bearer, register, serve
from tests.support.http_server import LoopbackHTTPServer

ITEMS = [  # (guid, pubDate or None)
    ("undated-a", None),
    ("dated-1", "Sun, 01 Nov 2026 09:00:00 GMT"),
    ("garbage", "sometime in spring"),
    ("dated-3", "Tue, 03 Nov 2026 09:00:00 GMT"),
    ("future", "Fri, 01 Jan 2100 09:00:00 GMT"),
    ("dated-2", "Mon, 02 Nov 2026 09:00:00 GMT"),
    ("undated-b", None),
]


def _feed() -> bytes:
    items = "".join(
        f"<item><title>{guid}</title><guid>{guid}</guid>"
        + (f"<pubDate>{date}</pubDate>" if date else "")
        + f'<enclosure url="https://media.example.org/{guid}.mp3" length="9" type="audio/mpeg"/>'
        "</item>"
        for guid, date in ITEMS
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Mixed</title>{items}' \
        "</channel></rss>".encode()  # fmt: skip


async def test_undated_episodes_come_after_the_dated_ones(
    settings: Settings, feeds: LoopbackHTTPServer, clean_db: None
) -> None:
    url = feeds.add("/feeds/mixed.xml", body=_feed(), content_type="application/rss+xml")
    async with serve(settings) as http:
        http.headers.update(bearer((await register(http))["tokens"]))
        added = await http.post("/podcasts", json={"feed_url": url})
        assert added.status_code == 201, added.text
        podcast_id = added.json()["podcast"]["id"]

        listed: list[dict[str, Any]] = []
        cursor = None
        while True:  # pages of two, across the dated/undated boundary
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await http.get(f"/podcasts/{podcast_id}/episodes", params=params)).json()
            listed += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        titles = [e["title"] for e in listed]
        assert titles[:3] == ["dated-3", "dated-2", "dated-1"], titles
        assert set(titles[3:]) == {"undated-a", "undated-b", "garbage", "future"}, titles
        shown = {e["title"]: (e["published_at"], e["published_raw"]) for e in listed}
        assert shown["garbage"] == (None, "sometime in spring")
        assert shown["future"] == (None, "Fri, 01 Jan 2100 09:00:00 GMT")

        # Subscribing queued the newest three: the dated ones.
        queued = {e["title"] for e in listed if e["status"] == "queued"}
        assert queued == {"dated-3", "dated-2", "dated-1"}, listed
