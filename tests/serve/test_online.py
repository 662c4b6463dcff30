"""The online system end to end on a real local Ray cluster: subscribe over HTTP on the Serve
app, and the episode is downloaded, transcribed by Whisper replicas, summarized by vLLM behind
``ray.serve.llm``, embedded, and stored in LanceDB on the S3 server."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from models.evaluation import word_error_rate
from tellmemore.index import SegmentStore, connect
from tests.serve.conftest import Online, rss, wait_for
from tests.support.http_server import LoopbackHTTPServer
from tests.support.monitoring import dashboard, queried_series
from tests.support.monitoring import rules as monitoring_rules
from tests.support.prometheus import prometheus_binary, running_prometheus
from tests.support.scrape import Scrape, scrape_until

pytestmark = pytest.mark.slow


@pytest.fixture
async def http(online: Online) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=online.url, timeout=30) as client:
        email = f"listener-{uuid.uuid4().hex[:8]}@example.com"
        response = await client.post(
            "/auth/register", json={"email": email, "password": "correct horse battery"}
        )
        assert response.status_code == 201, response.text
        # What following the mailed verification link does (no mail server here): without it
        # nothing this listener subscribes to would be processed.
        with psycopg.connect(online.settings.database.url, autocommit=True) as conn:
            conn.execute("UPDATE users SET email_verified_at = now() WHERE email = %s", (email,))
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
    tmp_path: Path,
) -> None:
    audio_bytes, spoken = speech_mp3
    key = uuid.uuid4().hex[:8]
    audio_url = feed_server.add(f"/e2e-{key}/speech.mp3", body=audio_bytes,
                                content_type="audio/mpeg")  # fmt: skip
    # The publisher's chapters: a hidden one and one past the audio's end are left out.
    chapters = {"version": "1.2.0", "chapters": [
        {"startTime": 0, "title": "Opening"}, {"startTime": 1, "title": "Hidden", "toc": False},
        {"startTime": 2.5, "title": "The  reading\u0007"}, {"startTime": 86400, "title": "Late"},
    ]}  # fmt: skip
    chapters_url = feed_server.add(f"/e2e-{key}/chapters.json", body=json.dumps(chapters).encode(),
                                   content_type="application/json+chapters")  # fmt: skip
    item = {"guid": "e1", "title": "Read speech", "enclosure": audio_url, "chapters": chapters_url}
    feed = rss(feed_server.base_url, [item])
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
    # The summary came from vLLM behind ray.serve.llm, reached by the LLM app's handle.
    assert done["llm_model"] == "llm:smollm2-135m@serve:llm"
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
    # The read-along's chapters are the publisher's, cut at the audio's end.
    assert summary["chapters_source"] == "publisher"
    assert [(c["start_s"], c["title"]) for c in summary["chapters"]] == [
        (0.0, "Opening"), (2.5, "The reading")]  # fmt: skip
    assert summary["chapters"][0]["end_s"] == 2.5
    assert summary["chapters"][1]["end_s"] == pytest.approx(transcript["duration_s"])
    assert transcript["duration_s"] > 2.5

    rows = segments_in_lance(online, episode_id)
    assert len(rows) == done["segment_count"] >= 1
    assert len({r["id"] for r in rows}) == len(rows)
    assert "".join(str(r["text"]) for r in rows).split()[:3] == text.split()[:3]
    # The staged audio is gone; the transcript document stays.
    from tellmemore.storage import ObjectStore

    store = ObjectStore(online.settings.s3)
    assert store.keys("audio/") == []
    assert store.exists(f"transcripts/{episode_id}.json")

    # Search, on the Serve app, over what the pipeline stored (queries embedded by the
    # embedder deployment).
    await search_what_was_processed(http, podcast_id, episode_id, text, audio_url)
    await the_metrics_show_the_work(online, http)
    await asyncio.to_thread(prometheus_reads_the_app, online, tmp_path, podcast_id)


async def the_metrics_show_the_work(online: Online, http: httpx.AsyncClient) -> None:
    """Ray's metrics endpoint (what Prometheus scrapes) carries the application's metrics
    from the Api and Processor replicas, with values from the requests and the episode above,
    and every series the alert rules and the dashboard read."""
    assert (await http.get("/no/such/route")).status_code == 404

    def ready(s: Scrape) -> bool:
        return (
            s.total("ray_tmm_http_requests_total", route="unmatched", status="404") >= 1
            and s.total("ray_tmm_processing_stage_seconds_count", stage="storing") >= 1
            and s.most("ray_tmm_jobs", state="done") >= 1
        )

    scrape = await asyncio.to_thread(scrape_until, online.metrics_url, ready)
    requests = "ray_tmm_http_requests_total"
    assert scrape.total(requests, route="/search", method="GET", status="200") >= 2
    assert scrape.total(requests, route="/podcasts", method="POST", status="201") >= 1
    assert scrape.total(requests, route="/episodes/{episode_id}", status="200") >= 1
    assert scrape.total(requests, route="unmatched", status="404") >= 1
    latency = "ray_tmm_http_request_seconds"
    count = scrape.total(f"{latency}_count", route="/search")
    assert count >= 2 and scrape.total(f"{latency}_sum", route="/search") > 0
    assert scrape.total(f"{latency}_bucket", route="/search", le="+Inf") == count
    for statement in ("select", "insert", "update"):
        assert scrape.total("ray_tmm_db_query_seconds_count", statement=statement) > 0
    assert scrape.total("ray_tmm_cache_requests_total", cache="search") >= 2
    assert scrape.total("ray_tmm_search_seconds_count", kind="segments") >= 2
    for table, query in (("segments", "vector"), ("segments", "fts"), ("episodes", "vector")):
        assert scrape.total("ray_tmm_vector_search_seconds_count", table=table, query=query) >= 1
    assert scrape.most("ray_tmm_jobs", kind="process_episode", state="done") >= 1
    assert scrape.total("ray_tmm_jobs_finished_total", outcome="done") >= 1
    assert scrape.total("ray_tmm_episodes_processed_total", outcome="done") >= 1
    for stage in ("downloading", "transcribing", "summarizing", "embedding", "storing"):
        assert scrape.total("ray_tmm_processing_stage_seconds_count", stage=stage) >= 1, stage
    assert scrape.total("ray_node_mem_total") > 0 and "ray_node_cpu_utilization" in scrape.names()
    # Batch series come from `tmm-batch` runs (the pipeline tier scrapes those); a counter of
    # failed statements has no series until a statement fails.
    elsewhere = ("ray_tmm_batch", "ray_tmm_db_errors")
    missing = {s for s in queried_series() if not s.startswith(elsewhere)} - scrape.names()
    assert not missing, f"the rules or the dashboard read series nobody exports: {missing}"


# Panels that must show data once Prometheus has scraped the app for a few seconds.
LIVE_PANELS = (
    "Requests per second by route", "Latency p50 / p95 / p99", "p95 latency by route",
    "Cache hit rate", "Database query time p95 by statement", "Search latency p95 (uncached)",
    "Vector and full-text search latency p95", "Queue depth", "Job outcomes per minute",
    "Episode stage time p50 by stage", "CPU utilisation by node", "Memory used by node",
)  # fmt: skip


def prometheus_reads_the_app(online: Online, workdir: Path, podcast_id: str) -> None:
    """A real Prometheus scrapes the app's Ray metrics endpoint with the alert rules loaded:
    every rule evaluates without error, every dashboard query is accepted, and the key panels
    show the app's data (p95 latency from requests made while it watches)."""
    binary = prometheus_binary()
    assert binary, "prometheus not found: `scripts/dev.sh test` unpacks it under .local/"
    panels = {p["title"]: p for p in dashboard()["panels"] if p["type"] != "row"}
    with (
        running_prometheus(binary, online.metrics_url, workdir) as prom,
        httpx.Client(base_url=online.url, timeout=30) as client,
    ):
        deadline = time.monotonic() + 90
        while True:
            # While Prometheus watches: an uncached search (a new word each time) and a
            # cached one.
            for words in (f"speech {uuid.uuid4().hex[:6]}", "speech"):
                client.get("/search", params={"q": words, "podcast_id": podcast_id})
            p95 = prom.query("tmm:http_request_seconds:p95_5m")
            if prom.targets_up() and p95 and p95[0]["value"][1] != "NaN":
                break
            assert time.monotonic() < deadline, f"no p95 from Prometheus: {p95}"
            time.sleep(1)
        rules = httpx.get(f"{prom.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
        evaluated = {r.get("name"): r for g in rules for r in g["rules"]}
        assert {r.get("alert") or r["record"] for r in monitoring_rules()} <= set(evaluated)
        assert all(r["health"] == "ok" for r in evaluated.values()), evaluated
        for title, panel in panels.items():
            for target in panel["targets"]:
                result = prom.query(target["expr"].replace("$__rate_interval", "1m"))
                if title in LIVE_PANELS:
                    assert result, f"panel {title!r} shows nothing: {target['expr']}"


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

    # The dead letters and retries reached the metrics the dead-letter alert reads.
    scrape = await asyncio.to_thread(
        scrape_until, online.metrics_url,
        lambda s: s.total("ray_tmm_jobs_finished_total", outcome="dead") >= 2,
    )  # fmt: skip
    assert scrape.total("ray_tmm_jobs_finished_total", outcome="dead") >= 2
    assert scrape.total("ray_tmm_jobs_finished_total", outcome="retry") >= 2
    assert scrape.total("ray_tmm_episodes_processed_total", outcome="failed") >= 2
    assert scrape.most("ray_tmm_jobs", kind="process_episode", state="dead") >= 1


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


async def test_the_client_address_behind_a_trusted_proxy_reaches_the_rate_limits(
    online: Online,
) -> None:
    """Through Serve's proxy (what a load balancer reaches), X-Forwarded-For from a trusted
    peer (127.0.0.1 here) picks the per-IP bucket; the rest of the header is not believed."""
    async with httpx.AsyncClient(base_url=online.url, timeout=30) as anon:

        async def remaining(forwarded: str) -> int:
            answer = await anon.get("/podcasts", headers={"X-Forwarded-For": forwarded})
            assert answer.status_code == 200, answer.text
            return int(answer.headers["RateLimit-Remaining"])

        first = await remaining("203.0.113.7")
        assert await remaining("203.0.113.7") == first - 1
        assert await remaining("203.0.113.8") == first
        assert await remaining("203.0.113.8, 203.0.113.7") == first - 2


async def test_the_llm_is_reached_only_through_the_api_with_an_llm_key(
    online: Online, http: httpx.AsyncClient
) -> None:
    """The LLM app has no route on Serve's proxy: the old path lands on the API, which wants an
    API key with the llm scope, and with one the ``openai`` client gets the real model's
    answers (whole and streamed) through the API's /llm/v1 and the LLM app's handle."""
    import openai

    async with httpx.AsyncClient(base_url=online.url, timeout=30) as anon:
        routes = (await anon.get("/-/routes")).json()  # the proxy's own route table
        assert routes == {"/": "tellmemore"}, routes
        chat = {"model": "smollm2-135m", "messages": [{"role": "user", "content": "Hi"}]}
        answer = await anon.post("/llm/v1/chat/completions", json=chat)
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "not_authenticated"  # the API's, not vLLM's
        assert (await anon.get("/llm/v1/models")).status_code == 401
        # vLLM's other routes are not there at all.
        assert (await anon.post("/llm/tokenize", json={"prompt": "Hi"})).status_code == 404
        assert (await anon.post("/llm/v1/embeddings", json={"input": "Hi"})).status_code == 404
    as_session = await http.post("/llm/v1/chat/completions", json=chat)
    assert as_session.status_code == 403, as_session.text
    assert as_session.json()["error"]["code"] == "api_key_required"

    made = await http.post("/me/api-keys", json={"name": "research", "scopes": ["llm"]})
    assert made.status_code == 201, made.text
    client = openai.AsyncOpenAI(base_url=online.llm_url, api_key=made.json()["key"], timeout=120)
    assert online.llm_url == f"{online.url}/llm/v1"
    assert [m.id async for m in client.models.list()] == ["smollm2-135m"]
    messages: Any = [{"role": "user", "content": "Name a colour."}]
    whole = await client.chat.completions.create(
        model="smollm2-135m", messages=messages, max_tokens=12, temperature=0
    )
    assert whole.choices[0].message.content and whole.usage and whole.usage.completion_tokens > 0
    stream = await client.chat.completions.create(
        model="smollm2-135m", messages=messages, max_tokens=12, temperature=0, stream=True
    )
    pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert len(pieces) > 1 and "".join(pieces).strip()
    text = await client.completions.create(model="smollm2-135m", prompt="Once upon", max_tokens=5)
    assert text.choices[0].text
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="no-such-model", messages=messages)
