"""The online system end to end on a real local Ray cluster: subscribe over HTTP on the Serve
app, and the episode is downloaded, transcribed by Whisper replicas, summarized by vLLM behind
``ray.serve.llm``, embedded, and stored in LanceDB on the S3 server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest

from core.lance import connect
from models.evaluation import word_error_rate
from processing.segment_store import SegmentStore
from tests.serve.conftest import Online, rss, wait_for
from tests.support.http_server import LoopbackHTTPServer

pytestmark = pytest.mark.slow


@pytest.fixture
async def http(online: Online) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=online.url, timeout=30) as client:
        email = f"listener-{uuid.uuid4().hex[:8]}@example.com"
        response = await client.post(
            "/auth/register", json={"email": email, "password": "correct horse battery"}
        )
        assert response.status_code == 201, response.text
        token = response.json()["tokens"]["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        client.headers["X-Test-Email"] = email
        yield client


def segments_in_lance(online: Online, episode_id: str) -> list[dict[str, object]]:
    store = SegmentStore(connect(online.settings.lance, online.settings.s3), 384)
    rows: list[dict[str, object]] = store.episode_segments(episode_id)
    return rows


async def test_subscribing_processes_an_episode_end_to_end(
    online: Online,
    http: httpx.AsyncClient,
    feed_server: LoopbackHTTPServer,
    speech_mp3: tuple[bytes, str],
) -> None:
    audio_bytes, spoken = speech_mp3
    key = uuid.uuid4().hex[:8]
    audio_url = feed_server.add(f"/e2e-{key}/speech.mp3", body=audio_bytes,
                                content_type="audio/mpeg")  # fmt: skip
    feed = rss(
        feed_server.base_url, [{"guid": "e1", "title": "Read speech", "enclosure": audio_url}]
    )
    feed_url = feed_server.add(f"/e2e-{key}/feed.xml", body=feed)

    response = await http.post("/podcasts", json={"feed_url": feed_url})
    assert response.status_code == 201, response.text
    podcast_id = response.json()["podcast"]["id"]
    episodes = (await http.get(f"/podcasts/{podcast_id}/episodes")).json()["items"]
    episode_id = episodes[0]["id"]
    assert episodes[0]["status"] in ("queued", "processing")

    done = await wait_for(http, episode_id, {"done", "failed"})
    assert done["status"] == "done", done
    assert done["transcript_source"] == "asr"
    assert done["transcript_model"].startswith("asr:whisper-tiny.en@")
    # The summary came from vLLM behind ray.serve.llm's OpenAI-compatible route.
    assert done["llm_model"] == f"llm:smollm2-135m@endpoint:{online.llm_url}"
    assert len(done["summary"]["summary"]) >= 40 and done["summary"]["topics"]

    transcript = (await http.get(f"/episodes/{episode_id}/transcript")).json()
    text = " ".join(s["text"] for s in transcript["segments"])
    assert word_error_rate(spoken, text) < 0.35, text
    vtt = await http.get(f"/episodes/{episode_id}/transcript", params={"format": "vtt"})
    assert vtt.status_code == 200 and vtt.text.startswith("WEBVTT")
    assert vtt.headers["content-type"].startswith("text/vtt")
    srt = await http.get(f"/episodes/{episode_id}/transcript", params={"format": "srt"})
    assert srt.status_code == 200 and srt.text.startswith("1\n00:00:")
    summary = (await http.get(f"/episodes/{episode_id}/summary")).json()
    assert summary["summary"] == done["summary"]["summary"]

    rows = segments_in_lance(online, episode_id)
    assert len(rows) == done["segment_count"] >= 1
    assert len({r["id"] for r in rows}) == len(rows)
    assert "".join(str(r["text"]) for r in rows).split()[:3] == text.split()[:3]
    # The staged audio is gone; the transcript document stays.
    from core.objects import ObjectStore

    store = ObjectStore(online.settings.s3)
    assert store.keys("audio/") == []
    assert store.exists(f"transcripts/{episode_id}.json")

    # Search, on the Serve app, over what the pipeline stored (queries embedded by the
    # embedder deployment).
    await search_what_was_processed(http, podcast_id, episode_id, text, audio_url)


async def search_what_was_processed(
    http: httpx.AsyncClient, podcast_id: str, episode_id: str, text: str, audio_url: str
) -> None:
    word = max(text.replace(",", " ").replace(".", " ").split(), key=len)
    found = await http.get("/search", params={"q": word, "podcast_id": podcast_id})
    assert found.status_code == 200, found.text
    top = found.json()["results"][0]
    assert top["episode_id"] == episode_id and top["fulltext_rank"] == 1
    assert top["highlight"]["marks"], (word, top)
    assert top["audio_url"].startswith(audio_url + "#t="), top
    phrase = " ".join(text.split()[:12])
    semantic = await http.get(
        "/search", params={"q": phrase, "mode": "semantic", "podcast_id": podcast_id}
    )
    assert semantic.status_code == 200, semantic.text
    assert semantic.json()["results"][0]["episode_id"] == episode_id
    episodes = await http.get("/search/episodes", params={"q": phrase, "podcast_id": podcast_id})
    assert [e["episode_id"] for e in episodes.json()["results"]] == [episode_id]

    made = await http.post(
        "/tell-me-more",
        json={"topic": phrase, "minutes": 2, "filters": {"podcast_ids": [podcast_id]}},
    )
    assert made.status_code == 201, made.text
    plan = made.json()
    assert plan["items"] and all(i["episode_id"] == episode_id for i in plan["items"])
    playlist = await http.get(f"/playlists/{plan['playlist_id']}")
    assert playlist.status_code == 200 and playlist.json()["kind"] == "topic"
    m3u = await http.get(f"/playlists/{plan['playlist_id']}/export", params={"format": "m3u"})
    assert m3u.status_code == 200 and m3u.text.startswith("#EXTM3U")
    assert audio_url in m3u.text


async def test_a_bad_enclosure_is_dead_lettered_and_others_go_on(
    online: Online,
    http: httpx.AsyncClient,
    feed_server: LoopbackHTTPServer,
    speech_mp3: tuple[bytes, str],
) -> None:
    key = uuid.uuid4().hex[:8]
    good = feed_server.add(f"/bad-{key}/good.mp3", body=speech_mp3[0], content_type="audio/mpeg")
    corrupt = feed_server.add(
        f"/bad-{key}/corrupt.mp3", body=b"ID3" + bytes(range(256)) * 64, content_type="audio/mpeg"
    )
    missing = feed_server.add(f"/bad-{key}/missing.mp3", status=404, body=b"gone",
                              content_type="text/plain")  # fmt: skip
    items = [
        {"guid": "missing", "title": "Missing audio", "enclosure": missing,
         "date": "Wed, 04 Nov 2026 09:00:00 +0000"},
        {"guid": "corrupt", "title": "Corrupt audio", "enclosure": corrupt,
         "date": "Tue, 03 Nov 2026 09:00:00 +0000"},
        {"guid": "good", "title": "Good audio", "enclosure": good},
    ]  # fmt: skip
    feed_url = feed_server.add(f"/bad-{key}/feed.xml", body=rss(feed_server.base_url, items))
    response = await http.post("/podcasts", json={"feed_url": feed_url})
    assert response.status_code == 201, response.text
    episodes = {
        e["title"]: e["id"]
        for e in (await http.get(f"/podcasts/{response.json()['podcast']['id']}/episodes")).json()[
            "items"
        ]
    }

    good_done = await wait_for(http, episodes["Good audio"], {"done", "failed"})
    assert good_done["status"] == "done", good_done
    lost = await wait_for(http, episodes["Missing audio"], {"failed"}, timeout_s=120)
    assert lost["error_code"] == "enclosure_not_found", lost
    broken = await wait_for(http, episodes["Corrupt audio"], {"failed"}, timeout_s=120)
    assert broken["error_code"] == "audio_corrupt", broken
    assert len(feed_server.hits(f"/bad-{key}/missing.mp3")) == 2  # max_attempts in the test

    # Operators see both with their reasons and can send one back to the queue.
    assert (await http.get("/jobs/failed")).status_code == 403
    with psycopg.connect(online.settings.database.url, autocommit=True) as conn:
        conn.execute(
            "UPDATE users SET is_admin = true WHERE email = %s", (http.headers["X-Test-Email"],)
        )
    failed = (await http.get("/jobs/failed")).json()["items"]
    mine = {f["episode_id"]: f for f in failed if f["episode_id"] in episodes.values()}
    assert {f["error_code"] for f in mine.values()} == {"enclosure_not_found", "audio_corrupt"}
    assert all(f["attempts"] == 2 for f in mine.values())
    job_id = mine[episodes["Missing audio"]]["job_id"]
    feed_server.add(f"/bad-{key}/missing.mp3", body=speech_mp3[0], content_type="audio/mpeg")
    retried = await http.post(f"/jobs/{job_id}/retry")
    assert retried.status_code == 200, retried.text
    again = await http.post(f"/jobs/{job_id}/retry")
    assert again.status_code == 404 and again.json()["error"]["code"] == "job_not_failed"
    fixed = await wait_for(http, episodes["Missing audio"], {"done", "failed"})
    assert fixed["status"] == "done", fixed


async def test_a_job_whose_worker_dies_is_reclaimed_and_completes(
    online: Online,
    http: httpx.AsyncClient,
    feed_server: LoopbackHTTPServer,
    speech_mp3: tuple[bytes, str],
) -> None:
    import ray

    from tests.support.http_server import Route

    key = uuid.uuid4().hex[:8]
    # The first download drips slowly, so the worker is surely mid-way when it is killed.
    slow = Route(body=speech_mp3[0], content_type="audio/mpeg", drip_s=0.5, drip_bytes=8192)
    audio_url = feed_server.add(f"/crash-{key}/speech.mp3", slow)
    items = [{"guid": "c1", "title": "Interrupted", "enclosure": audio_url}]
    feed_url = feed_server.add(f"/crash-{key}/feed.xml", body=rss(feed_server.base_url, items))
    response = await http.post("/podcasts", json={"feed_url": feed_url})
    assert response.status_code == 201, response.text
    podcast_id = response.json()["podcast"]["id"]
    episode_id = (await http.get(f"/podcasts/{podcast_id}/episodes")).json()["items"][0]["id"]

    midway = await wait_for_step(http, episode_id, "downloading")
    assert midway["status"] == "processing"
    replicas = [
        a for a in ray.util.list_named_actors(all_namespaces=True)
        if a["name"].startswith("SERVE_REPLICA::tellmemore#Processor#")
    ]  # fmt: skip
    assert replicas
    for actor in replicas:
        ray.kill(ray.get_actor(actor["name"], namespace=actor["namespace"]), no_restart=True)
    slow.drip_s = 0.0  # the publisher is fast again for whoever reclaims the job

    done = await wait_for(http, episode_id, {"done", "failed"}, timeout_s=300)
    assert done["status"] == "done", done
    with psycopg.connect(online.settings.database.url) as conn:
        row = conn.execute(
            "SELECT attempts, state FROM jobs WHERE key = %s ORDER BY id DESC LIMIT 1",
            (episode_id,),
        ).fetchone()
    assert row == (2, "done")  # the killed attempt counted; the reclaimed one finished
    rows = segments_in_lance(online, episode_id)
    assert len(rows) == done["segment_count"] == len({r["id"] for r in rows})


async def wait_for_step(
    http: httpx.AsyncClient, episode_id: str, step: str, timeout_s: float = 120
) -> dict[str, object]:
    import asyncio
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body: dict[str, object] = (await http.get(f"/episodes/{episode_id}")).json()
        if body.get("processing_step") == step:
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"episode {episode_id} never reached step {step}")
