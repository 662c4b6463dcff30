"""Private feeds: a feed URL with a subscriber's credentials (a query token, ``user:password@``)
or added with ``private: true`` is seen only by its subscribers.

User A adds such a feed from the loopback feed server; anonymous callers and user B must not
find the podcast, its episodes or its passages anywhere (lists, detail, OPML, playlists, search)
and must never see the credentials (the token appears in no response body and no log line),
while A sees everything. B shares A's podcast only by adding the very same URL.
"""

from __future__ import annotations

import asyncio
import io
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from httpx import AsyncClient, Response

from models.embedder import Embedder, LocalTextEmbedder
from models.types import ModelRef, RetrievalSegment, Summary
from tellmemore.index import EpisodeMeta, SegmentStore, connect
from tellmemore.logs import JsonFormatter, RedactingFilter
from tellmemore.search import by_passage, passage_sentences
from tellmemore.settings import RedisSettings, SearchSettings, Settings
from tests.conftest import ROOT, bearer, make_settings, register, serve
from tests.storage.helpers import rows
from tests.support.http_server import LoopbackHTTPServer

TITLE = "Members Only Hour"
PUBLIC_TITLE = "Everybody's Hour"


def _secret() -> str:
    return "tok" + uuid.uuid4().hex


def _feed(title: str, token: str, *, episodes: int = 2, word: str = "zebrafish") -> bytes:
    """A premium-style feed: its enclosures carry the subscriber's token as well."""
    items = "".join(
        f"""<item><title>{title} #{n}</title><guid isPermaLink="false">{title}-{n}</guid>
        <pubDate>Tue, {10 + n} Nov 2026 10:00:00 GMT</pubDate>
        <itunes:duration>600</itunes:duration>
        <description>About {word} number {n}.</description>
        <enclosure url="https://media.example.org/premium/{n}.mp3?token={token}"
                   length="1000" type="audio/mpeg"/></item>"""
        for n in range(1, episodes + 1)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel>
<title>{title}</title><link>https://members.example.org/</link>
<description>Only for members.</description>{items}</channel></rss>""".encode()


def _serve_feed(server: LoopbackHTTPServer, path: str, body: bytes, **kwargs: Any) -> str:
    server.add(path, body=body, **kwargs)
    return server.url(path)


async def _add(
    http: AsyncClient, who: dict[str, Any], url: str, *, private: bool | None = None
) -> Response:
    body: dict[str, Any] = {"feed_url": url}
    if private is not None:
        body["private"] = private
    return await http.post("/podcasts", json=body, headers=bearer(who))


async def _podcast_ids(http: AsyncClient, headers: dict[str, str]) -> set[str]:
    response = await http.get("/podcasts", headers=headers)
    assert response.status_code == 200, response.text
    return {p["id"] for p in response.json()["items"]}


async def _not_found_like_a_stranger(
    http: AsyncClient, headers: dict[str, str], method: str, path: str, missing: str, real: str
) -> Response:
    """``path`` with the real id answers exactly as with an id that does not exist."""
    unknown = await http.request(method, path.format(missing), headers=headers)
    found = await http.request(method, path.format(real), headers=headers)
    assert found.status_code == unknown.status_code == 404, (path, found.text)
    assert found.json()["error"]["code"] == unknown.json()["error"]["code"]
    return found


# ---- the catalog ------------------------------------------------------------------------------


async def test_a_tokened_feed_is_seen_only_by_its_subscriber(
    anon: AsyncClient, feeds: LoopbackHTTPServer
) -> None:
    token = _secret()
    a = (await register(anon))["tokens"]
    b = (await register(anon))["tokens"]
    url = _serve_feed(feeds, "/premium/show.xml", _feed(TITLE, token)) + f"?token={token}"
    public_url = _serve_feed(feeds, "/open/show.xml", _feed(PUBLIC_TITLE, "none"))
    added = await _add(anon, a, url)
    assert added.status_code == 201, added.text
    podcast = added.json()["podcast"]
    assert podcast["private"] is True and podcast["feed_url"] == url  # A's own URL, to A
    assert (await _add(anon, b, public_url)).status_code == 201
    podcast_id = podcast["id"]
    episodes = (await anon.get(f"/podcasts/{podcast_id}/episodes", headers=bearer(a))).json()
    episode_id = episodes["items"][0]["id"]
    assert token in episodes["items"][0]["enclosure_url"]

    missing = str(uuid.uuid4())
    for who in ({}, bearer(b)):
        bodies = [
            (await anon.get("/podcasts", headers=who)).text,
            (await anon.get("/podcasts", params={"q": "Members"}, headers=who)).text,
            (await anon.get("/opml/export", headers=who)).text,
        ]
        for method, path in (
            ("GET", "/podcasts/{}"),
            ("GET", "/podcasts/{}/episodes"),
        ):
            found = await _not_found_like_a_stranger(anon, who, method, path, missing, podcast_id)
            bodies.append(found.text)
        for path in ("/episodes/{}", "/episodes/{}/summary", "/episodes/{}/transcript"):
            found = await _not_found_like_a_stranger(anon, who, "GET", path, missing, episode_id)
            bodies.append(found.text)
        listed = await _podcast_ids(anon, who)
        assert podcast_id not in listed and len(listed) == 1  # the public one is there
        for body in bodies:
            assert token not in body and TITLE not in body
        assert PUBLIC_TITLE in bodies[2]  # the OPML export still lists the public catalog

    # B can neither subscribe to it by id nor make the server fetch it.
    for method, path in (("PUT", "/me/subscriptions/{}"), ("POST", "/podcasts/{}/refresh")):
        await _not_found_like_a_stranger(anon, bearer(b), method, path, missing, podcast_id)
    assert (await anon.get("/me/subscriptions", headers=bearer(b))).json()[0]["title"] == (
        PUBLIC_TITLE
    )

    # A sees all of it, URL included.
    assert podcast_id in await _podcast_ids(anon, bearer(a))
    detail = await anon.get(f"/podcasts/{podcast_id}", headers=bearer(a))
    assert detail.status_code == 200 and detail.json()["feed_url"] == url
    assert (await anon.get(f"/episodes/{episode_id}", headers=bearer(a))).status_code == 200
    assert token in (await anon.get("/opml/export", headers=bearer(a))).text
    refreshed = await anon.post(f"/podcasts/{podcast_id}/refresh", headers=bearer(a))
    assert refreshed.status_code == 200, refreshed.text


async def test_a_private_episode_in_a_public_playlist_shows_only_to_subscribers(
    anon: AsyncClient, feeds: LoopbackHTTPServer
) -> None:
    token = _secret()
    a = (await register(anon))["tokens"]
    b = (await register(anon))["tokens"]
    url = _serve_feed(feeds, "/premium/list.xml", _feed(TITLE, token)) + f"?auth={token}"
    podcast_id = (await _add(anon, a, url)).json()["podcast"]["id"]
    episodes = (await anon.get(f"/podcasts/{podcast_id}/episodes", headers=bearer(a))).json()
    episode_id = episodes["items"][0]["id"]
    made = await anon.post(
        "/playlists", json={"title": "Mixed", "visibility": "public"}, headers=bearer(a)
    )
    playlist_id, share = made.json()["id"], made.json()["share_token"]
    item = await anon.post(
        f"/playlists/{playlist_id}/items", json={"episode_id": episode_id}, headers=bearer(a)
    )
    assert item.status_code == 201, item.text

    mine = await anon.get(f"/playlists/{playlist_id}/export?format=m3u", headers=bearer(a))
    assert token in mine.text
    for who in ({}, bearer(b)):
        for path in (
            f"/playlists/{playlist_id}",
            f"/shared/playlists/{share}",
            *(f"/playlists/{playlist_id}/export?format={f}" for f in ("json", "m3u", "rss")),
            f"/shared/playlists/{share}/export?format=rss",
        ):
            response = await anon.get(path, headers=who)
            assert response.status_code == 200, (path, response.text)
            assert token not in response.text and episode_id not in response.text, path

    # B's own playlist cannot take the episode: it is as unknown as a made-up one.
    mine_b = (await anon.post("/playlists", json={"title": "B"}, headers=bearer(b))).json()
    tries = [
        await anon.post(
            f"/playlists/{mine_b['id']}/items", json={"episode_id": e}, headers=bearer(b)
        )
        for e in (episode_id, str(uuid.uuid4()))
    ]
    assert tries[0].status_code == tries[1].status_code != 201
    assert tries[0].json()["error"]["code"] == tries[1].json()["error"]["code"]
    heard = await anon.post("/me/history", json={"episode_id": episode_id}, headers=bearer(b))
    assert heard.status_code != 201 and heard.json()["error"]["code"] == "episode_not_found"


async def test_the_same_token_shares_the_podcast_and_another_token_does_not(
    anon: AsyncClient, feeds: LoopbackHTTPServer, database_url: str
) -> None:
    first, second = _secret(), _secret()
    a = (await register(anon))["tokens"]
    b = (await register(anon))["tokens"]
    c = (await register(anon))["tokens"]
    base = _serve_feed(feeds, "/premium/shared.xml", _feed(TITLE, "x"))
    created = await _add(anon, a, f"{base}?token={first}")
    assert created.status_code == 201
    podcast_id = created.json()["podcast"]["id"]

    same = await _add(anon, b, f"{base}?token={first}")
    assert same.status_code == 200, same.text  # already in the catalog: B subscribes to it
    assert same.json()["podcast"]["id"] == podcast_id
    assert podcast_id in await _podcast_ids(anon, bearer(b))

    other = await _add(anon, c, f"{base}?token={second}")
    assert other.status_code == 201, other.text  # a podcast of C's own
    assert other.json()["podcast"]["id"] != podcast_id and other.json()["podcast"]["private"]
    c_sees = await anon.get("/podcasts", headers=bearer(c))
    assert first not in c_sees.text and podcast_id not in c_sees.text
    a_sees = await anon.get("/podcasts", headers=bearer(a))
    assert second not in a_sees.text


async def test_each_userinfo_is_its_own_private_feed(
    anon: AsyncClient, feeds: LoopbackHTTPServer
) -> None:
    password_a, password_b = _secret(), _secret()
    a = (await register(anon))["tokens"]
    b = (await register(anon))["tokens"]
    c = (await register(anon))["tokens"]
    base = _serve_feed(feeds, "/premium/basic-auth.xml", _feed(TITLE, "y"))
    url_a = base.replace("http://", f"http://listener:{password_a}@")
    url_b = base.replace("http://", f"http://listener:{password_b}@")
    added_a = await _add(anon, a, url_a)
    assert added_a.status_code == 201, added_a.text
    podcast_a = added_a.json()["podcast"]
    assert podcast_a["private"] and podcast_a["feed_url"] == url_a
    assert feeds.hits("/premium/basic-auth.xml")[-1].headers["authorization"].startswith("Basic ")

    added_b = await _add(anon, b, url_b)
    assert added_b.status_code == 201, added_b.text  # another password: not A's podcast
    assert added_b.json()["podcast"]["id"] != podcast_a["id"]
    added_c = await _add(anon, c, url_a)
    assert added_c.status_code == 200 and added_c.json()["podcast"]["id"] == podcast_a["id"]

    for who, secret in ((bearer(b), password_a), (bearer(a), password_b), ({}, password_a)):
        for path in ("/podcasts", "/opml/export"):
            assert secret not in (await anon.get(path, headers=who)).text
    assert (await anon.get(f"/podcasts/{podcast_a['id']}", headers=bearer(b))).status_code == 404


async def test_a_plain_url_marked_private_stays_with_its_subscribers(
    anon: AsyncClient, feeds: LoopbackHTTPServer
) -> None:
    a = (await register(anon))["tokens"]
    b = (await register(anon))["tokens"]
    url = _serve_feed(feeds, "/plain/members.xml", _feed(TITLE, "z"))
    added = await _add(anon, a, url, private=True)
    assert added.status_code == 201 and added.json()["podcast"]["private"]
    podcast_id = added.json()["podcast"]["id"]
    assert podcast_id not in await _podcast_ids(anon, {})
    assert (await anon.get(f"/podcasts/{podcast_id}", headers=bearer(b))).status_code == 404
    joined = await _add(anon, b, url)  # B knows the exact URL
    assert joined.status_code == 200 and joined.json()["podcast"]["id"] == podcast_id
    assert (await anon.get(f"/podcasts/{podcast_id}", headers=bearer(b))).status_code == 200


async def test_a_public_feed_is_public_and_shows_no_userinfo(
    anon: AsyncClient, feeds: LoopbackHTTPServer
) -> None:
    a = (await register(anon))["tokens"]
    url = _serve_feed(feeds, "/open/public.xml", _feed(PUBLIC_TITLE, "n")) + "?format=rss"
    added = await _add(anon, a, url)
    assert added.status_code == 201 and added.json()["podcast"]["private"] is False
    podcast_id = added.json()["podcast"]["id"]
    shown = (await anon.get(f"/podcasts/{podcast_id}")).json()
    assert shown["feed_url"] == url
    assert url in (await anon.get("/opml/export")).text


# ---- the migration ----------------------------------------------------------------------------


def test_the_migration_marks_stored_credential_feeds_private(
    database_url: str, clean_db: None
) -> None:
    """Rows stored before 0010 (every podcast public, keys without userinfo) are backfilled."""
    legacy = {
        "https://feeds.example.org/open.xml": False,
        "https://feeds.example.org/rss?format=mp3": False,
        "https://feeds.example.org/premium.xml?auth=abc123": True,
        "https://member:hunter22@feeds.example.org/basic.xml": True,
        "https://www.patreon.com/rss/someone": True,
        "https://show.supercast.com/feeds/Zx81AbC": True,
    }
    with psycopg.connect(database_url) as conn:
        for url in legacy:
            (podcast_id,) = (
                conn.execute(
                    "INSERT INTO podcasts (feed_url, title) VALUES (%s, %s) RETURNING id",
                    (url, url),
                ).fetchone()
                or ()
            )
            old_key = url.replace("member:hunter22@", "")  # what url_key made of it before
            conn.execute(
                "INSERT INTO podcast_feed_urls (url_key, url, podcast_id, reason)"
                " VALUES (%s, %s, %s, 'added')",
                (old_key, url, podcast_id),
            )
    migration = (ROOT / "tellmemore/storage/migrations/0010_private_feeds.sql").read_text()
    backfill = migration[migration.index("UPDATE podcast_feed_urls") :]
    with psycopg.connect(database_url) as conn:
        conn.execute(backfill.encode())
    marked = {r["feed_url"]: r["private"] for r in rows(database_url, "SELECT * FROM podcasts")}
    assert marked == legacy
    keys = {r["url_key"] for r in rows(database_url, "SELECT url_key FROM podcast_feed_urls")}
    assert "https://member:hunter22@feeds.example.org/basic.xml" in keys


# ---- logs -------------------------------------------------------------------------------------


async def test_refresh_logs_name_the_feed_without_its_credentials(
    anon: AsyncClient, feeds: LoopbackHTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token, password = _secret(), _secret()
    a = (await register(anon))["tokens"]
    path = "/premium/logged.xml"
    base = _serve_feed(feeds, path, _feed(TITLE, token))
    url = base.replace("http://", f"http://member:{password}@") + f"?auth={token}"
    podcast_id = (await _add(anon, a, url)).json()["podcast"]["id"]
    _serve_feed(feeds, path, _feed(TITLE, token, episodes=3))
    grown = await anon.post(f"/podcasts/{podcast_id}/refresh", headers=bearer(a))
    assert grown.status_code == 200 and grown.json()["added"] == 1
    _serve_feed(feeds, path, b"broken", status=500)
    failed = await anon.post(f"/podcasts/{podcast_id}/refresh", headers=bearer(a))
    assert failed.status_code >= 400

    # What our own code logged, raw (the HTTP client's lines are checked as written below) ...
    raw = "\n".join(
        f"{r.getMessage()} {vars(r)}" for r in caplog.records if not r.name.startswith("httpx")
    )
    # ... and every line, the HTTP client's requests included, as the production handler
    # writes it.
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter())
    for record in caplog.records:
        handler.handle(logging.makeLogRecord(vars(record)))
    written = stream.getvalue()
    assert path in written  # the feed's requests were logged ...
    for secret in (token, password):
        assert secret not in raw
        assert secret not in written  # ... without its credentials
    refreshed = [r for r in caplog.records if r.getMessage() == "feed refreshed"]
    failures = [r for r in caplog.records if r.getMessage() == "feed refresh failed"]
    assert len(refreshed) == len(failures) == 1
    assert vars(failures[0])["feed"] == base  # scheme, host and path only
    assert vars(failures[0])["code"] == "feed_http_error"


# ---- search -----------------------------------------------------------------------------------


_SEGMENTER = ModelRef("segmenter", "test", "1")
_SOURCE = ModelRef("publisher", "publisher:test", "1")
_LLM = ModelRef("llm", "test", "1")


_ZEBRAFISH = (
    "Zebrafish regrow their damaged hearts within weeks, which is why so many labs keep them.",
    "Researchers study how zebrafish embryos grow, since the young fish are transparent.",
)


def _index_episode(
    store: SegmentStore, embedder: Embedder, podcast_id: str, podcast_title: str,
    episode_id: str, text: str,
) -> list[str]:  # fmt: skip
    """Two passages about zebrafish and a summary of one episode, embedded by the real model
    and stored as processing would store them."""
    segments = [
        RetrievalSegment(f"{episode_id}:{i}", episode_id, i, i * 60.0, i * 60.0 + 60.0,
                         f"{text} {said}", _SEGMENTER, _SOURCE)
        for i, said in enumerate(_ZEBRAFISH)
    ]  # fmt: skip
    summary = Summary(f"{text} All about zebrafish.", ("zebrafish",), (), _LLM)
    embedded = embedder.embed_passages([*(s.text for s in segments), summary.summary])
    flat, counts = passage_sentences([s.text for s in segments])
    sentence_vectors = by_passage(embedder.embed_passages(flat).vectors, counts)
    meta = EpisodeMeta(episode_id, podcast_id, f"{podcast_title} episode", podcast_title,
                       datetime(2026, 11, 11, tzinfo=UTC))  # fmt: skip
    store.write_episode(meta, segments, embedded.vectors[:2], summary, embedded.vectors[2],
                        embedding_model=embedded.model,
                        sentence_vectors=sentence_vectors)  # fmt: skip
    return [s.id for s in segments]


@pytest.fixture
async def search_api(
    database_url: str,
    apple_server: LoopbackHTTPServer,
    redis_settings: RedisSettings,
    tmp_path: Path,
    clean_db: None,
) -> AsyncIterator[tuple[Settings, AsyncClient]]:
    """The API over search tables of this test's own, embedding queries with the real model."""
    settings = make_settings(database_url, apple_server.base_url, redis_settings, tmp_path)
    settings = settings.model_copy(
        update={
            "search": SearchSettings(read_consistency_s=0),
            "redis": redis_settings.model_copy(
                update={"key_prefix": f"tmm-private-{uuid.uuid4().hex[:8]}:"}
            ),
        }
    )
    async with serve(settings, text_embedder=LocalTextEmbedder(settings.models.embedder)) as http:
        yield settings, http


async def test_private_passages_are_found_only_by_subscribers(
    search_api: tuple[Settings, AsyncClient], feeds: LoopbackHTTPServer
) -> None:
    settings, http = search_api
    token = _secret()
    a = (await register(http))["tokens"]
    b = (await register(http))["tokens"]
    private_url = _serve_feed(feeds, "/premium/s.xml", _feed(TITLE, token)) + f"?key={token}"
    public_url = _serve_feed(feeds, "/open/s.xml", _feed(PUBLIC_TITLE, "none"))
    private_id = (await _add(http, a, private_url)).json()["podcast"]["id"]
    public_id = (await _add(http, b, public_url)).json()["podcast"]["id"]
    embedder = Embedder(settings.models.embedder)
    store = SegmentStore(connect(settings.lance, settings.s3), embedder.dimension)
    segment_ids: dict[str, list[str]] = {}
    for podcast_id, title in ((private_id, TITLE), (public_id, PUBLIC_TITLE)):
        page = (await http.get(f"/podcasts/{podcast_id}/episodes", headers=bearer(a))).json()
        episode_id = page["items"][0]["id"]
        segment_ids[podcast_id] = await asyncio.to_thread(
            _index_episode, store, embedder, podcast_id, title, episode_id, f"{title}."
        )

    async def found(who: dict[str, str]) -> tuple[set[str], str]:
        bodies, podcasts = [], set()
        for path in ("/search", "/search/episodes"):
            response = await http.get(path, params={"q": "zebrafish"}, headers=who)
            assert response.status_code == 200, response.text
            podcasts |= {r["podcast_id"] for r in response.json()["results"]}
            bodies.append(response.text)
        similar = await http.get(f"/segments/{segment_ids[public_id][0]}/similar", headers=who)
        assert similar.status_code == 200, similar.text
        podcasts |= {r["podcast_id"] for r in similar.json()["results"]}
        bodies.append(similar.text)
        plan = await http.post(
            "/tell-me-more", json={"topic": "zebrafish", "minutes": 10, "save": False},
            headers=who,
        )  # fmt: skip
        if who:
            assert plan.status_code == 200, plan.text
            podcasts |= {i["podcast_id"] for i in plan.json()["items"]}
            bodies.append(plan.text)
        return podcasts, "\n".join(bodies)

    podcasts, body = await found(bearer(a))
    assert podcasts == {private_id, public_id}
    assert token in body  # A's own audio links carry A's token
    for who in ({}, bearer(b)):
        podcasts, body = await found(who)
        assert podcasts == {public_id}
        assert token not in body and TITLE not in body
        hidden = await http.get(f"/segments/{segment_ids[private_id][0]}/similar", headers=who)
        assert hidden.status_code == 404
        assert hidden.json()["error"]["code"] == "segment_not_found"
