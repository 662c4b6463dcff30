"""Adding feeds through the API: each quirk real feeds have, served on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from httpx import AsyncClient

from tests.storage.helpers import rows
from tests.support.http_server import LoopbackHTTPServer


async def _add(client: AsyncClient, url: str) -> dict[str, Any]:
    response = await client.post("/podcasts", json={"feed_url": url})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _episodes(client: AsyncClient, podcast_id: str) -> dict[str, dict[str, Any]]:
    response = await client.get(f"/podcasts/{podcast_id}/episodes", params={"limit": 50})
    assert response.status_code == 200, response.text
    return {e["title"]: e for e in response.json()["items"]}


async def test_basic_feed_is_stored_with_all_its_fields(
    client: AsyncClient, feeds: LoopbackHTTPServer
) -> None:
    added = await _add(client, feeds.url("/feeds/basic.xml"))
    podcast = added["podcast"]
    assert added["episodes_added"] == 3
    assert podcast["title"] == "Gene Editing Today"
    assert podcast["author"] == "Harbor Science Radio"
    assert podcast["description"] == "News & analysis from the gene-editing world."
    assert podcast["categories"] == ["Science", "Life Sciences"]
    assert podcast["explicit"] is True
    assert podcast["image_url"] == "https://genes.example.org/cover.jpg"
    assert podcast["episode_count"] == 3

    episodes = await _episodes(client, podcast["id"])
    assert list(episodes) == [
        "CRISPR patents, explained",
        "Base editing in the clinic",
        "Prime editing, a primer",
    ]
    ep = episodes["CRISPR patents, explained"]
    assert ep["guid"] == "get-0042"
    assert ep["published_at"] == "2026-11-17T10:00:00Z"
    assert ep["duration_s"] == 2710
    assert (ep["season"], ep["episode_number"], ep["episode_type"]) == (4, 42, "full")
    assert ep["explicit"] is False
    assert ep["enclosure_length"] == 43210987
    # All three transcripts, with type and language, not only the last one.
    assert [(t["type"], t["language"], t["rel"]) for t in ep["transcripts"]] == [
        ("text/vtt", "en", None),
        ("application/json", "en", "captions"),
        ("application/x-subrip", "es", None),
    ]
    assert ep["chapters_url"] == "https://genes.example.org/42-chapters.json"
    assert ep["chapters_type"] == "application/json+chapters"
    # HTML: text without tags or scripts; sanitised HTML kept beside it.
    assert ep["description"] == "Who owns CRISPR? Links: show notes & more.\n\nSecond paragraph."
    assert "<script" not in ep["description_html"]
    assert "<b>CRISPR</b>" in ep["description_html"]
    assert (
        episodes["Base editing in the clinic"]["description"]
        == "Plain text with an entity: café <3"
    )
    assert episodes["Base editing in the clinic"]["duration_s"] == 44 * 60 + 5
    assert episodes["Prime editing, a primer"]["duration_s"] == 3690


async def test_quirky_feed(
    client: AsyncClient, feeds: LoopbackHTTPServer, database_url: str
) -> None:
    added = await _add(client, feeds.url("/feeds/quirks.xml"))
    podcast = added["podcast"]
    assert podcast["title"] == "Quirky Feed & Friends"
    assert podcast["description"] == "About\n\nWe love edge cases."
    episodes = await _episodes(client, podcast["id"])
    # The item listed twice is stored once; the two sharing a guid are both kept.
    assert sorted(episodes) == sorted(
        ["No guid here", "Shared guid A", "Shared guid B", "Odd date", "Undated", "Listed twice"]
    )

    no_guid = episodes["No guid here"]
    assert no_guid["guid"] is None
    assert no_guid["enclosure_length"] is None  # length="0" means unknown
    assert no_guid["duration_s"] == 3600
    assert no_guid["published_at"] == "2026-11-04T07:30:00Z"

    assert episodes["Shared guid A"]["duration_s"] == 59 * 60 + 30
    assert episodes["Shared guid B"]["duration_s"] == 3723
    assert episodes["Shared guid B"]["enclosure_length"] is None  # missing length

    odd = episodes["Odd date"]
    assert odd["published_at"] is None
    assert odd["published_raw"] == "sometime in the 32nd of Nevember"
    assert odd["duration_s"] is None
    assert odd["duration_raw"] == "45 min"
    assert odd["enclosure_length"] is None

    undated = episodes["Undated"]
    assert undated["published_at"] is None and undated["published_raw"] is None
    assert undated["duration_s"] == 425
    assert undated["description"] == "Tags and links, entities & élève, and a\nbreak."

    keys = {
        r["title"]: r["identity_key"]
        for r in rows(database_url, "SELECT title, identity_key FROM episodes")
    }
    # Identity: a unique guid is used as is; a shared or missing guid falls back to the
    # enclosure, whose token-bearing query and tracking prefix never enter the key.
    assert keys["Odd date"] == "guid:odd-date"
    assert keys["Shared guid A"].startswith("enc:")
    assert keys["Shared guid B"].startswith("enc:")
    assert keys["Shared guid A"] != keys["Shared guid B"]
    assert keys["No guid here"].startswith("enc:")
    assert "abc123" not in keys["No guid here"]


async def test_no_guid_identity_survives_token_and_prefix_changes(
    client: AsyncClient, feeds: LoopbackHTTPServer, database_url: str
) -> None:
    """A CDN that re-signs its URLs on every fetch must not create new episodes."""
    added = await _add(client, feeds.url("/feeds/quirks.xml"))
    body = feeds.routes["/feeds/quirks.xml"].body
    resigned = body.replace(b"token=abc123&amp;exp=1700000000", b"token=zzz999&amp;exp=1800000000")
    resigned = resigned.replace(b"https://dts.podtrac.com/redirect.mp3/", b"https://")
    feeds.add("/feeds/quirks.xml", body=resigned)
    response = await client.post(f"/podcasts/{added['podcast']['id']}/refresh")
    assert response.status_code == 200, response.text
    assert response.json()["added"] == 0
    assert response.json()["updated"] == 1  # the enclosure URL itself did change
    stored = rows(
        database_url, "SELECT enclosure_url FROM episodes WHERE title = %s", "No guid here"
    )
    assert len(stored) == 1
    assert stored[0]["enclosure_url"] == (
        "https://cdn.quirks.example.net/ep/no-guid.mp3?token=zzz999&exp=1800000000"
    )


async def test_atom_feed(client: AsyncClient, feeds: LoopbackHTTPServer) -> None:
    added = await _add(client, feeds.url("/feeds/atom.xml"))
    assert added["podcast"]["title"] == "Ocean Currents Weekly"
    episodes = await _episodes(client, added["podcast"]["id"])
    ep = episodes["Thermohaline circulation"]
    assert ep["enclosure_url"] == "https://ocean.example.org/9.mp3"
    assert ep["enclosure_length"] == 2048
    assert ep["description"] == "Cold salty water sinks."


async def test_recoverable_xml_is_kept_with_a_warning(
    client: AsyncClient, feeds: LoopbackHTTPServer
) -> None:
    added = await _add(client, feeds.url("/feeds/recoverable.xml"))
    assert added["podcast"]["title"] == "Rock & Roll History"
    assert "malformed XML" in added["podcast"]["parse_warning"]
    assert added["episodes_added"] == 1


async def test_new_feed_url_is_followed_and_recorded(
    client: AsyncClient, feeds: LoopbackHTTPServer
) -> None:
    old = feeds.url("/feeds/moved_old.xml")
    new = feeds.url("/feeds/moved_new.xml")
    added = await _add(client, old)
    podcast = added["podcast"]
    assert podcast["feed_url"] == new
    assert podcast["previous_feed_urls"] == [old]
    assert podcast["title"] == "Moving Day"
    assert added["episodes_added"] == 2
    # Either URL now finds the same podcast instead of adding it twice.
    for url in (old, new):
        again = await client.post("/podcasts", json={"feed_url": url})
        assert again.status_code == 409
        assert again.json()["error"]["details"]["podcast_id"] == podcast["id"]


async def test_permanent_redirect_moves_the_feed_on_refresh(
    client: AsyncClient, feeds: LoopbackHTTPServer
) -> None:
    added = await _add(client, feeds.url("/feeds/grow_v1.xml"))
    podcast_id = added["podcast"]["id"]
    feeds.add(
        "/feeds/grow_v1.xml", status=301, headers={"Location": feeds.url("/feeds/grow_v2.xml")}
    )
    response = await client.post(f"/podcasts/{podcast_id}/refresh")
    assert response.status_code == 200, response.text
    assert response.json()["added"] == 2
    podcast = (await client.get(f"/podcasts/{podcast_id}")).json()
    assert podcast["feed_url"] == feeds.url("/feeds/grow_v2.xml")
    assert podcast["previous_feed_urls"] == [feeds.url("/feeds/grow_v1.xml")]


async def test_episode_paging_and_date_filters(
    client: AsyncClient, feeds: LoopbackHTTPServer
) -> None:
    added = await _add(client, feeds.url("/feeds/quirks.xml"))
    podcast_id = added["podcast"]["id"]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(f"/podcasts/{podcast_id}/episodes", params=params)).json()
        assert len(page["items"]) <= 2
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 6

    since = datetime(2026, 11, 2, tzinfo=UTC).isoformat()
    until = datetime(2026, 11, 4, tzinfo=UTC).isoformat()
    window = await client.get(
        f"/podcasts/{podcast_id}/episodes",
        params={"published_since": since, "published_until": until},
    )
    assert [e["title"] for e in window.json()["items"]] == ["Shared guid A", "Shared guid B"]


async def test_get_episode_and_list_podcasts(
    client: AsyncClient, feeds: LoopbackHTTPServer
) -> None:
    first = await _add(client, feeds.url("/feeds/basic.xml"))
    await _add(client, feeds.url("/feeds/atom.xml"))
    listed = (await client.get("/podcasts")).json()
    assert [p["title"] for p in listed["items"]] == ["Ocean Currents Weekly", "Gene Editing Today"]
    assert (await client.get("/podcasts", params={"q": "gene"})).json()["items"][0]["id"] == (
        first["podcast"]["id"]
    )
    episodes = await _episodes(client, first["podcast"]["id"])
    one = episodes["Prime editing, a primer"]
    got = await client.get(f"/episodes/{one['id']}")
    assert got.status_code == 200
    assert got.json() == one
