"""Text from feeds and publisher transcripts is cleaned of control characters before it is
stored: feedparser decodes ``&#0;`` and passes raw control bytes through, JSON transcripts
carry ``\\u0000``, and PostgreSQL refuses NUL."""

from __future__ import annotations

import json

import pytest

from models.text import has_disallowed
from models.transcripts import parse_transcript
from tellmemore.settings import Settings
from tests.conftest import bearer, register, serve
from tests.storage.helpers import rows
from tests.support.http_server import LoopbackHTTPServer

DIRTY_FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel>'
    b"<title>Dirty&#0; show\x01</title><description>About&#x1b;[31m things\x7f</description>"
    b"<item><title>First&#0; episode\x02</title><guid>dirty-1</guid>"
    b"<description>Notes&#1; here\x0b</description>"
    b'<enclosure url="https://media.example.org/dirty/1.mp3" length="10" type="audio/mpeg"/>'
    b"</item></channel></rss>"
)


async def test_a_feed_with_control_characters_is_stored_clean(
    settings: Settings, feeds: LoopbackHTTPServer, database_url: str, clean_db: None
) -> None:
    url = feeds.add("/feeds/dirty.xml", body=DIRTY_FEED, content_type="application/rss+xml")
    async with serve(settings) as http:
        http.headers.update(bearer((await register(http))["tokens"]))
        added = await http.post("/podcasts", json={"feed_url": url})
        assert added.status_code == 201, added.text
        podcast = added.json()["podcast"]
        assert podcast["title"] == "Dirty show"
        episodes = (await http.get(f"/podcasts/{podcast['id']}/episodes")).json()["items"]
        assert [e["title"] for e in episodes] == ["First episode"]
    stored = rows(database_url, "SELECT title, description FROM podcasts") + rows(
        database_url, "SELECT title, description, description_html FROM episodes"
    )
    assert stored and not any(
        has_disallowed(value) for row in stored for value in row.values() if value
    ), stored


@pytest.mark.parametrize("escape", ["\\u0000", "\\u001b", "\\u0007"])
def test_a_publisher_transcript_with_control_characters_is_cleaned(escape: str) -> None:
    body = json.dumps({"segments": [
        {"startTime": 0, "endTime": 2, "body": "Hello", "speaker": "Ann"},
        {"startTime": 2, "endTime": 4, "body": "PLACEHOLDER", "speaker": "Bo"},
    ]}).replace("PLACEHOLDER", f"bad{escape}text").encode()  # fmt: skip
    transcript = parse_transcript(body, "application/json")
    assert [s.text for s in transcript.segments] == ["Hello", "badtext"]
