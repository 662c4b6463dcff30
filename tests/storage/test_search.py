"""Search, "tell me more" and topic playlists over the labelled corpus, on real tables.

The corpus (six shows, ~250 timed passages) is loaded once for the module the way processing
stores episodes: PostgreSQL rows and LanceDB tables embedded with the real model. The API runs
in-process with the same model embedding queries.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import itertools
import json
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
import psycopg
import pytest
import redis.asyncio as aioredis
from aiosmtpd.controller import Controller
from httpx import AsyncClient

from models.embedder import Embedder, LocalTextEmbedder
from models.types import Embeddings
from tellmemore.index import EpisodeMeta, SegmentStore, connect
from tellmemore.metrics import exposition
from tellmemore.research import (
    EvalSet,
    entity_id,
    load_eval_catalog,
    load_eval_set,
    mean,
    ndcg_at_k,
    recall_at_k,
    segment_id,
)
from tellmemore.search import (
    SEARCH_CACHE,
    SearchEngine,
    SearchFilters,
    SearchMode,
    SearchService,
    query_terms,
    sentences,
)
from tellmemore.search.hits import shares_term
from tellmemore.search.timing import parse_header
from tellmemore.settings import EmailSettings, RedisSettings, SearchSettings, Settings
from tellmemore.storage import ResultCache, make_pool
from tests.conftest import bearer, make_settings, register, serve
from tests.support.http_server import LoopbackHTTPServer

pytestmark = pytest.mark.slow


@dataclass
class World:
    settings: Settings
    http: AsyncClient
    eval_set: EvalSet
    embedder: Embedder
    store: SegmentStore


@pytest.fixture(scope="module")
def corpus() -> EvalSet:
    return load_eval_set()


@pytest.fixture(scope="module")
def embedder_model(corpus: EvalSet) -> Embedder:
    return Embedder(Settings().models.embedder)


@pytest.fixture(scope="module")
async def world(
    database_url: str,
    apple_server: LoopbackHTTPServer,
    redis_settings: RedisSettings,
    tmp_path_factory: pytest.TempPathFactory,
    corpus: EvalSet,
    embedder_model: Embedder,
) -> AsyncIterator[World]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE podcasts, podcast_feed_urls, episodes, users CASCADE")
    lance_dir = tmp_path_factory.mktemp("search-lance")
    settings = make_settings(database_url, apple_server.base_url, redis_settings, lance_dir)
    settings = settings.model_copy(
        update={
            "search": SearchSettings(read_consistency_s=0),
            "redis": redis_settings.model_copy(
                update={"key_prefix": f"tmm-search-test-{uuid.uuid4().hex[:8]}:"}
            ),
        }
    )
    store = SegmentStore(connect(settings.lance, settings.s3), embedder_model.dimension)

    async def embed(texts: Any, space: Any = None) -> Embeddings:
        return await asyncio.to_thread(embedder_model.embed_passages, list(texts))

    pool = make_pool(settings.database)
    await pool.open(wait=True)
    try:
        loaded = await load_eval_catalog(corpus, pool, store, embed)
        assert loaded.segments == sum(len(e.passages) for p in corpus.podcasts for e in p.episodes)
        # The second load changes nothing (stable ids, merge on them).
        await load_eval_catalog(corpus, pool, store, embed)
        assert store.count_segments() == loaded.segments
    finally:
        await pool.close()
    text_embedder = LocalTextEmbedder(settings.models.embedder)
    async with serve(settings, text_embedder=text_embedder) as http:
        yield World(settings, http, corpus, embedder_model, store)


def _engine(world: World) -> SearchEngine:
    return SearchEngine(
        connect(world.settings.lance, world.settings.s3),
        LocalTextEmbedder(world.settings.models.embedder),
        world.settings.search,
    )


# ---- quality --------------------------------------------------------------------------------


async def test_hybrid_is_not_worse_than_either_method_alone(world: World) -> None:
    engine = _engine(world)
    table: dict[SearchMode, tuple[float, float]] = {}
    for mode in SearchMode:
        ndcgs, recalls = [], []
        for query in world.eval_set.queries:
            hits = await engine.search_segments(
                query.query, mode=mode, limit=10, with_highlights=False
            )
            labels = {segment_id(k): v for k, v in query.relevant.items()}
            ranked = [h.segment_id for h in hits]
            ndcgs.append(ndcg_at_k(ranked, labels, 10))
            recalls.append(recall_at_k(ranked, labels, 10))
        table[mode] = (mean(ndcgs), mean(recalls))
    hybrid = table[SearchMode.HYBRID]
    for mode in (SearchMode.SEMANTIC, SearchMode.FULLTEXT):
        assert hybrid[0] >= table[mode][0], table
        assert hybrid[1] >= table[mode][1], table
    assert hybrid[0] > 0.5, table  # a sanity floor: the set is answerable


# ---- the search routes -------------------------------------------------------------------


async def test_search_results_carry_times_highlights_and_deep_links(world: World) -> None:
    response = await world.http.get("/search", params={"q": "Maillard reaction", "limit": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == "hybrid" and 1 <= len(body["results"]) <= 5
    top = body["results"][0]
    assert top["start_s"] <= top["deep_link_s"] < top["end_s"]
    assert "<mark>" in top["highlight"]["html"]
    marked = [top["highlight"]["snippet"][a:b].lower() for a, b in top["highlight"]["marks"]]
    assert any(m.startswith("maillard") for m in marked)
    assert top["audio_url"].endswith(f"#t={top['deep_link_s']:g}")
    assert top["podcast_title"] and top["episode_title"]
    assert top["fulltext_rank"] == 1


async def test_semantic_hits_get_their_best_sentence_marked(world: World) -> None:
    response = await world.http.get(
        "/search", params={"q": "why do I keep waking up at night", "mode": "semantic"}
    )
    assert response.status_code == 200, response.text
    for hit in response.json()["results"]:
        assert hit["highlight"]["snippet"] in hit["text"]
        assert hit["similarity"] is not None


async def test_filters_restrict_results(world: World) -> None:
    podcast = world.eval_set.podcasts[0]
    pid = str(entity_id(podcast.id))
    response = await world.http.get(
        "/search", params={"q": "money and prices", "podcast_id": pid, "limit": 20}
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert results and {r["podcast_id"] for r in results} == {pid}

    episodes = [e for p in world.eval_set.podcasts for e in p.episodes]
    cutoff = sorted(e.published_at for e in episodes)[len(episodes) // 2]
    response = await world.http.get(
        "/search",
        params={"q": "history", "published_after": cutoff.isoformat(), "limit": 50},
    )
    assert response.status_code == 200, response.text
    for hit in response.json()["results"]:
        assert datetime.fromisoformat(hit["published_at"]) >= cutoff

    response = await world.http.get(
        "/search", params={"q": "sleep", "min_duration_s": 70, "max_duration_s": 80}
    )
    assert response.status_code == 200, response.text
    for hit in response.json()["results"]:
        assert 70 <= hit["end_s"] - hit["start_s"] <= 80


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"q": ""}, "empty_query"),
        ({"q": "   "}, "empty_query"),
        ({"q": "x" * 10_000}, "query_too_long"),
        ({"q": "x" * 10_001}, "validation_error"),
        ({"q": "sleep", "podcast": "abc"}, "unknown_parameter"),
        ({"q": "sleep", "podcast_id": "not-a-uuid"}, "validation_error"),
        ({"q": "sleep", "published_after": "2026-01-01T00:00:00"}, "invalid_filter"),
        (
            {
                "q": "sleep",
                "published_after": "2026-02-01T00:00:00Z",
                "published_before": "2026-01-01T00:00:00Z",
            },
            "invalid_filter",
        ),
        ({"q": "sleep", "min_duration_s": 90, "max_duration_s": 30}, "invalid_filter"),
        ({"q": "sleep", "limit": 0}, "invalid_limit"),
        ({"q": "sleep", "limit": 10_000}, "invalid_limit"),
        ({"q": "sleep", "mode": "psychic"}, "validation_error"),
    ],
)
async def test_bad_searches_get_a_4xx_with_a_code(
    world: World, params: dict[str, Any], code: str
) -> None:
    response = await world.http.get("/search", params=params)
    assert 400 <= response.status_code < 500, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["message"]


async def test_episode_search_and_more_like_this(world: World) -> None:
    response = await world.http.get("/search/episodes", params={"q": "inflation"})
    assert response.status_code == 200, response.text
    episodes = response.json()["results"]
    assert episodes and all(e["summary"] for e in episodes)

    hit = (await world.http.get("/search", params={"q": "sourdough starter"})).json()["results"][0]
    response = await world.http.get(f"/segments/{hit['segment_id']}/similar", params={"limit": 5})
    assert response.status_code == 200, response.text
    similar = response.json()["results"]
    assert similar and all(s["episode_id"] != hit["episode_id"] for s in similar)
    response = await world.http.get("/segments/nope:00001/similar")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "segment_not_found"


def _metric(text: str, result: str) -> float:
    match = re.search(rf'tmm_cache_requests_total{{cache="search",result="{result}"}} (\S+)', text)
    return float(match.group(1)) if match else 0.0


async def test_results_are_cached_until_new_segments_land(world: World) -> None:
    params: dict[str, str | int] = {"q": "volcanic soil and wine", "limit": 3}
    before = exposition().decode()
    first = (await world.http.get("/search", params=params)).json()
    second = (await world.http.get("/search", params=params)).json()
    after = (await world.http.get("/metrics")).text
    assert first == second
    assert _metric(after, "hit") == _metric(before, "hit") + 1
    assert _metric(after, "miss") == _metric(before, "miss") + 1

    # A new episode about exactly that lands; the processor's hook invalidates the cache.
    text = "Volcanic soil and wine: the vines on Etna grow in black volcanic soil and wine made there tastes of it."  # noqa: E501
    episode = await _new_episode(world, "Etna wines", [text])
    response = await world.http.get("/search", params=params)
    assert response.json() == first  # still cached: nothing told the cache
    from tellmemore.wiring import open_services

    async with open_services(world.settings) as services:
        await services.search.invalidate()
    fresh = (await world.http.get("/search", params=params)).json()["results"]
    assert fresh[0]["episode_id"] == str(episode)


# ---- tell me more ---------------------------------------------------------------------------


async def test_tell_me_more_builds_a_diverse_playlist_of_the_right_length(world: World) -> None:
    tokens = (await register(world.http))["tokens"]
    response = await world.http.post(
        "/tell-me-more",
        json={"topic": "how sleep affects health and productivity", "minutes": 6},
        headers=bearer(tokens),
    )
    assert response.status_code == 201, response.text
    plan = response.json()
    items = plan["items"]
    assert items and plan["total_minutes"] <= 6 * 1.1
    assert len({i["podcast_id"] for i in items}) >= 2  # across shows
    for item in items:
        assert item["reason"]["snippet"] and item["summary"]
        assert item["start_s"] < item["end_s"]
        assert item["audio_url"].endswith(f"#t={item['start_s']:g},{item['end_s']:g}")
    # adjacent passages of one episode were merged, so no two items touch
    by_episode: dict[str, list[tuple[float, float]]] = {}
    for item in items:
        by_episode.setdefault(item["episode_id"], []).append((item["start_s"], item["end_s"]))
    for ranges in by_episode.values():
        ranges.sort()
        assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges))
    # no near-duplicates among the chosen passages
    ids = [s for i in items for s in i["segment_ids"]]
    vectors = _vectors(world, ids)
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, 0)
    assert sims.max() < world.settings.search.near_duplicate_similarity

    saved = await world.http.get(f"/playlists/{plan['playlist_id']}", headers=bearer(tokens))
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["kind"] == "topic" and len(body["items"]) == len(items)
    assert [i["start_s"] for i in body["items"]] == [i["start_s"] for i in items]


async def test_tell_me_more_skips_what_was_heard(world: World) -> None:
    tokens = (await register(world.http))["tokens"]
    request = {"topic": "fermentation", "minutes": 4, "save": False}
    first = await world.http.post("/tell-me-more", json=request, headers=bearer(tokens))
    assert first.status_code == 200, first.text
    heard = first.json()["items"][0]
    response = await world.http.post(
        "/me/history",
        json={"episode_id": heard["episode_id"], "start_s": heard["start_s"],
              "end_s": heard["end_s"]},
        headers=bearer(tokens),
    )  # fmt: skip
    assert response.status_code in (200, 201), response.text
    second = (await world.http.post("/tell-me-more", json=request, headers=bearer(tokens))).json()
    assert all(set(i["segment_ids"]).isdisjoint(heard["segment_ids"]) for i in second["items"])


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"topic": "sleep", "minutes": 0}, 422, "invalid_length"),
        ({"topic": "sleep", "minutes": -5}, 422, "invalid_length"),
        ({"topic": "sleep", "minutes": 10_000}, 422, "invalid_length"),
        ({"topic": "", "minutes": 5}, 422, "empty_query"),
        ({"topic": "sleep" * 3000, "minutes": 5}, 422, "validation_error"),
        ({"topic": "sleep", "minutes": 5, "colour": "red"}, 422, "validation_error"),
        ({"topic": "sleep", "minutes": 5, "filters": {"podcast_ids": ["x"]}}, 422,
         "validation_error"),
    ],
)  # fmt: skip
async def test_bad_tell_me_more_requests(
    world: World, body: dict[str, Any], status: int, code: str
) -> None:
    tokens = (await register(world.http))["tokens"]
    response = await world.http.post("/tell-me-more", json=body, headers=bearer(tokens))
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_tell_me_more_needs_sign_in(world: World) -> None:
    response = await world.http.post("/tell-me-more", json={"topic": "sleep", "minutes": 5})
    assert response.status_code == 401


async def test_a_topic_with_no_material_says_so(world: World) -> None:
    tokens = (await register(world.http))["tokens"]
    response = await world.http.post(
        "/tell-me-more",
        json={"topic": "quantum chromodynamics of gluon plasma", "minutes": 30, "save": False},
        headers=bearer(tokens),
    )
    assert response.status_code == 200, response.text
    assert response.json()["shortfall"] is True


# ---- topic playlists grow, and owners hear about it ----------------------------------------


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[_Inbox, int]]:
    inbox = _Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


async def test_topic_playlists_grow_with_new_episodes_and_email_a_digest(
    world: World, smtp: tuple[_Inbox, int]
) -> None:
    from tellmemore.notify import make_sender
    from tellmemore.wiring import open_services

    inbox, port = smtp
    registered = await register(world.http, "digest-reader@example.com")
    tokens = registered["tokens"]
    created = await world.http.post(
        "/tell-me-more",
        json={"topic": "honeybee colonies and pollination", "minutes": 3},
        headers=bearer(tokens),
    )
    assert created.status_code == 201, created.text
    playlist_id = created.json()["playlist_id"]
    before = len(created.json()["items"])
    response = await world.http.put(
        "/me/notifications", json={"email_digest": True}, headers=bearer(tokens)
    )
    assert response.status_code == 200, response.text

    episode = await _new_episode(
        world,
        "The secret life of bees",
        [
            "Honeybee colonies pollinate a third of what we eat; a colony can hold fifty "
            "thousand bees and they communicate where flowers are with the waggle dance.",
            "Beekeepers worry about colony collapse: mites, pesticides and poor forage weaken "
            "the hive, and pollination of almonds in California depends on rented hives.",
        ],
    )
    email_settings = EmailSettings(smtp_host="127.0.0.1", smtp_port=port)
    async with open_services(world.settings, text_embedder=LocalTextEmbedder(
            world.settings.models.embedder)) as services:  # fmt: skip
        refreshed = await services.topics.refresh_all()
        assert refreshed.items_added >= 1
        again = await services.topics.refresh_all()
        assert again.items_added == 0  # nothing twice
        sender = make_sender(email_settings)
        sent = await services.digests.send(sender, email_settings)
        assert sent.sent == 1 and sent.items >= 1
        assert (await services.digests.send(sender, email_settings)).sent == 0

    playlist = (await world.http.get(f"/playlists/{playlist_id}", headers=bearer(tokens))).json()
    added = playlist["items"][before:]
    assert added and {i["episode_id"] for i in added} == {str(episode)}
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["To"].addresses[0].addr_spec == "digest-reader@example.com"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "The secret life of bees" in text and playlist_id in text


# ---- helpers --------------------------------------------------------------------------------


def _vectors(world: World, segment_ids: list[str]) -> np.ndarray[Any, Any]:
    table = connect(world.settings.lance, world.settings.s3).open_table("segments")
    listed = ", ".join(f"'{s}'" for s in segment_ids)
    rows = table.search().where(f"id IN ({listed})").select(["id", "vector"]).to_arrow()
    by_id = {r["id"]: r["vector"] for r in rows.to_pylist()}
    return np.asarray([by_id[s] for s in segment_ids], dtype=np.float32)


async def _new_episode(world: World, title: str, passages: list[str]) -> UUID:
    """An episode processed just now: its rows in PostgreSQL and LanceDB."""
    from models.types import ModelRef, RetrievalSegment

    podcast = world.eval_set.podcasts[1]
    podcast_id = entity_id(podcast.id)
    episode_id = entity_id(f"extra:{title}")
    now = datetime.now(UTC)
    with psycopg.connect(world.settings.database.url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO episodes (id, podcast_id, identity_key, title, published_at,"
            " enclosure_url, content_sha256, status, processed_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, 'x', 'done', %s)",
            (episode_id, podcast_id, f"extra:{title}", title, now,
             "http://127.0.0.1:9/extra.mp3", now),
        )  # fmt: skip
    model = ModelRef("segmenter", "test", "1")
    segments = [
        RetrievalSegment(
            id=f"{episode_id}:{i:05d}",
            episode_id=str(episode_id),
            index=i,
            start_s=60.0 * i,
            end_s=60.0 * (i + 1),
            text=text,
            model=model,
            source=replace(model, kind="publisher"),
        )
        for i, text in enumerate(passages)
    ]
    embedded = world.embedder.embed_passages(passages)
    meta = EpisodeMeta(str(episode_id), str(podcast_id), title, podcast.title, now)
    world.store.write_episode(
        meta, segments, embedded.vectors, None, None, embedding_model=embedded.model
    )
    return episode_id


# ---- operators' commands and index upkeep ---------------------------------------------------


async def test_upkeep_commands(world: World) -> None:
    settings = world.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("TMM_")}
    env.update(
        TMM_DATABASE__URL=settings.database.url,
        TMM_REDIS__URL=settings.redis.url,
        TMM_REDIS__KEY_PREFIX=settings.redis.key_prefix,
        TMM_LANCE__LOCATION=settings.lance.location,
    )
    tmm = str(Path(sys.executable).with_name("tmm"))

    def run(*args: str) -> Any:
        done = subprocess.run(
            [tmm, *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)

    status = {t["table"]: t for t in run("index", "status")}
    assert status["segments"]["rows"] == world.store.count_segments()
    assert any(i["columns"] == ["text"] for i in status["segments"]["indexes"])
    reports = {r["table"]: r for r in run("index", "optimize")}
    assert reports["segments"]["fts"] == "present"
    assert reports["segments"]["vector"] == "none (exact search)"  # below the size threshold
    assert set(reports["segments"]["scalar_created"]) == {"podcast_id", "episode_id",
                                                           "published_at"}  # fmt: skip
    assert run("index", "optimize")[0]["scalar_created"] == []  # idempotent
    assert run("topics", "refresh")["items_added"] == 0  # every playlist is current
    # Filtered search still answers right through the new filter indexes.
    pid = str(entity_id(world.eval_set.podcasts[2].id))
    found = await world.http.get("/search", params={"q": "bread dough", "podcast_id": pid})
    results = found.json()["results"]
    assert results and {r["podcast_id"] for r in results} == {pid}


def test_vector_index_is_built_above_the_threshold_and_rebuilt_when_stale(
    tmp_path: Path,
) -> None:
    import lancedb
    import pyarrow as pa

    from tellmemore.index import maintain

    rng = np.random.default_rng(7)

    def rows(start: int, count: int) -> pa.Table:
        vectors = rng.normal(size=(count, 16)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return pa.table({
            "id": [f"s{i}" for i in range(start, start + count)],
            "text": [f"passage {i} about topic {i % 7}" for i in range(start, start + count)],
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), 16),
        })  # fmt: skip

    table = lancedb.connect(tmp_path).create_table("segments", rows(0, 600))
    settings = SearchSettings(vector_index_min_rows=256, vector_index_rebuild_fraction=0.2)
    first = maintain(table, settings)
    assert (first.fts, first.vector, first.rows) == ("created", "built", 600)
    table.add(rows(600, 60))  # 10 %: appended by optimize
    assert maintain(table, settings).vector == "present"
    table.add(rows(660, 300))  # then far more: retrained
    stale = maintain(table, settings)
    assert stale.vector == "rebuilt" and stale.unindexed_vectors == 0
    probe: Any = table.search(rows(0, 1)["vector"][0].as_py())
    probe = probe.distance_type("cosine").limit(5)
    assert len(probe.to_list()) == 5


# ---- latency work (issue 21): stored sentence vectors, timings, single flight -------------


class CountingEmbedder(LocalTextEmbedder):
    """The real in-process model, counting the texts it embeds as passages."""

    passages_embedded = 0

    async def embed_passages(self, texts: Any, space: Any = None) -> Any:
        self.passages_embedded += len(texts)
        return await super().embed_passages(texts, space)


async def test_meaning_hits_are_highlighted_from_stored_sentence_vectors(world: World) -> None:
    embedder = CountingEmbedder(world.settings.models.embedder)
    engine = SearchEngine(connect(world.settings.lance, world.settings.s3), embedder,
                          world.settings.search)  # fmt: skip
    query = "why do I keep waking up at night"
    hits = await engine.search_segments(query, mode=SearchMode.SEMANTIC, limit=10)
    assert embedder.passages_embedded == 0  # no sentence is embedded while a listener waits
    terms = query_terms(query)
    by_meaning = [h for h in hits if not shares_term(h.text, terms)]
    assert by_meaning, "the query should find passages that share none of its words"
    query_vector = world.embedder.embed_queries([query]).vectors[0]
    for hit in by_meaning:
        parts = [hit.text[s.start : s.end] for s in sentences(hit.text)]
        similarity = world.embedder.embed_passages(parts).vectors @ query_vector
        best = parts[int(np.argmax(similarity))]
        assert hit.highlight is not None and best in hit.highlight.snippet


async def test_search_responses_say_where_their_time_went(world: World) -> None:
    response = await world.http.get("/search", params={"q": "sourdough starter", "limit": 3})
    assert response.status_code == 200, response.text
    stages = parse_header(response.headers["server-timing"])
    expected = {"visibility", "search", "embed", "retrieve", "vector", "fts", "fusion",
                "highlight", "audio_urls", "serialise", "app"}  # fmt: skip
    assert expected <= set(stages)
    assert stages["app"] >= stages["search"] >= stages["retrieve"]
    assert response.json()["results"]  # the response itself is unchanged by the timing


async def test_identical_concurrent_searches_are_computed_once(world: World) -> None:
    engine = _engine(world)
    client = aioredis.from_url(world.settings.redis.url)
    prefix = f"{world.settings.redis.key_prefix}flight-{uuid.uuid4().hex[:6]}:"
    service = SearchService(engine, ResultCache(client, SEARCH_CACHE, ttl_s=60, key_prefix=prefix))
    query = "how honey bees find their way back to the hive"
    try:
        answers = await asyncio.gather(*(service.segments(query, limit=5) for _ in range(20)))
        assert engine.computed["segments"] == 1
        assert all(a == answers[0] for a in answers) and answers[0]

        # A viewer who may not see a podcast gets a computation of their own, shared with
        # the others who see what they see; the earlier answer now comes from the cache.
        hidden = answers[0][0].podcast_id
        narrower = SearchFilters(exclude_podcast_ids=(hidden,))
        mixed = await asyncio.gather(
            *(service.segments(query, filters=narrower, limit=5) for _ in range(10)),
            *(service.segments(query, limit=5) for _ in range(10)),
        )
        assert engine.computed["segments"] == 2
        assert all(hit.podcast_id != hidden for answer in mixed[:10] for hit in answer)
        assert all(answer == answers[0] for answer in mixed[10:])
    finally:
        await client.aclose()
