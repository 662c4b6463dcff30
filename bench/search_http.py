"""Search latency as a listener gets it: the running stack over HTTP, stage by stage.

    .venv/bin/python -m bench.search_http                       # its own stack, then stops it
    .venv/bin/python -m bench.search_http --queries 40 --rounds 2 --limits 10
    .venv/bin/python -m bench.search_http --url http://127.0.0.1:8000   # a running `make run`
    .venv/bin/python -m bench.search_http --synthetic-rows 1000000 --queries 24 --coalesce 0

Without ``--url`` it starts what ``make run`` starts — a private Ray cluster (its own
``RAY_TMPDIR``) with the Serve application on a free loopback port: API ingress, embedder,
transcriber, processor (the LLM app is left out: search never calls it) — on a database, Redis
key prefix and LanceDB prefix of its own, loads the labelled corpus as the demo catalog
(``tellmemore.research.corpus``: 6 podcasts, 24 episodes, 246 passages, embedded with the real
model, sentence vectors included as processing stores them) and removes all of it at the end.

Every timed request is uncached: each one's query text is new to the cache (the eval set's
queries, then re-worded variants "about ...", "tell me about ..." for later rounds), one at a
time, highlights on (the API always highlights), ``limit`` as given (the API's default 10).
A few other queries warm each mode up first. Per request the client measures the wall time;
the API's ``Server-Timing`` header gives the server's stages (``tellmemore.search.timing``):

- ``ingress``: wall time minus the app's own (``app``): HTTP, Serve's proxy and router;
- ``visibility`` (private podcasts hidden from this viewer), ``search`` (cache + engine);
- ``embed`` (the query through the embedder deployment's handle), split into
  ``embed_batch_wait`` (queued for ``@serve.batch``), ``embed_model`` and ``embed_handle``;
- ``retrieve`` (both retrievers, concurrently), ``vector`` and ``fts`` (the LanceDB queries);
- ``fusion``, ``highlight`` (``highlight_vectors``: reading stored sentence vectors),
  ``audio_urls`` (PostgreSQL), ``serialise`` (response models and JSON).

Prints p50/p95 of the wall time per mode and each stage's p50/p95 with the load average (the
machine is shared; run it twice); asserts nothing.

Before and after (issue 21): 2 cores shared with other work (load average in brackets),
demo catalog, uncached, highlights on, limit 10, 30 queries per mode and round; ms, p50 / p95.
"Before" is the commit before the fixes with only the timing added, on tables as the episodes'
writes left them (the 15-minute maintenance had not run yet, as right after ``make run``).

    mode       before (load 11-12)              after, round 1 / round 2 (load 13-17)
    fulltext   124 / 241, 163 / 981            93 / 470, 114 / 335
    semantic   817 / 1509, 2912 / 15466        203 / 351, 207 / 329
    hybrid     1048 / 4639                     321 / 884, 237 / 502

    stage p50, hybrid       before    after (r1 / r2)
    ingress                   17.0    35.7 / 25.7
    visibility                 6.9     9.9 /  6.3
    embed                     60.6    66.6 / 62.0
      embed_batch_wait        11.2     2.0 /  2.2   (query batches wait 1 ms, not 10)
      embed_model             41.3    42.0 / 45.8
      embed_handle             8.6    12.3 / 10.7
    retrieve                 180.8    69.0 / 63.7   (tables compacted and indexed)
      vector                 159.2    63.6 / 56.4
      fts                    168.0    31.6 / 36.3
    fusion                     0.7     0.9 /  0.9
    highlight                740.2    47.5 / 46.7   (stored sentence vectors, no model call)
      highlight_embed        811.7       —
      highlight_vectors         —     41.8 / 39.0
    audio_urls                 2.1     3.3 /  2.4
    serialise                  0.4     0.5 /  0.5

30 identical cold hybrid queries at once, after: one computation, all answered in 2.1 s.
The same on an otherwise idle machine (load average 1.9-2.1: Ray's own processes), rounds 1 / 2,
before and after queries ran on ONNX Runtime (``models/onnx_queries.py``) and full-text ran
while the query was embedded; ms, p50 / p95:

    mode       sentence vectors, compaction     + ONNX queries, full-text beside
    fulltext   37 / 47, 31 / 39                 38 / 46, 30 / 35
    semantic   69 / 86, 73 / 90                 49 / 59, 57 / 73
    hybrid     77 / 90, 79 / 96                 55 / 65, 69 / 86

    stage p50, hybrid round 1   before   after
    ingress                        9.0     8.7
    embed                         28.0    17.8
      embed_model                 20.0     9.2
    retrieve                      26.0    16.4   (full-text mostly done by then)
    highlight                      5.8     4.3

50 identical cold hybrid queries at once: all answered in 0.6 s.

With ``--synthetic-rows 1000000`` (generated 33 s, written to S3 16 s, maintenance 1,008 s),
24 queries per mode, rounds 1 / 2, load 2.4-3.2; ms, p50 / p95 (stage p50):

    fulltext   510 / 587, 343 / 428        fts 497, 330
    semantic   689 / 787, 820 / 958        vector 662, 781; embed 12
    hybrid     968 / 1173, 1052 / 1424     vector 946, 1009; fts 487, 537
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from tellmemore.research import load_eval_set
from tellmemore.search.timing import parse_header
from tellmemore.settings import Settings

if TYPE_CHECKING:
    from tellmemore.index import SegmentStore

MODES = ("fulltext", "semantic", "hybrid")
# Shown in this order; the embed_* and vector/fts lines are parts of the line above them.
STAGES = (
    "ingress", "app", "visibility", "search", "embed", "embed_batch_wait", "embed_model",
    "embed_handle", "retrieve", "vector", "fts", "fusion", "highlight", "highlight_vectors",
    "highlight_embed", "audio_urls", "serialise",
)  # fmt: skip
_VARIANTS = ("{}", "about {}", "tell me about {}", "anything on {}", "{}, please", "more on {}")


@dataclass
class Timed:
    wall_ms: list[float] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=dict)
    hits: list[int] = field(default_factory=list)

    def add(self, wall_ms: float, stages: dict[str, float], hits: int) -> None:
        self.wall_ms.append(wall_ms)
        self.hits.append(hits)
        stages = dict(stages)
        if "app" in stages:
            stages["ingress"] = wall_ms - stages["app"]
        for name, ms in stages.items():
            self.stages.setdefault(name, []).append(ms)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} (1 / 5 min), {os.cpu_count()} cores"


def queries(count: int, round_: int) -> list[str]:
    """``count`` query texts, none used by an earlier round (a new wording per round)."""
    base = [q.query for q in load_eval_set().queries]
    out: list[str] = []
    variant = round_ * ((count + len(base) - 1) // len(base))
    while len(out) < count:
        wording = _VARIANTS[variant % len(_VARIANTS)]
        suffix = f" ({variant // len(_VARIANTS)})" if variant >= len(_VARIANTS) else ""
        out += [wording.format(q) + suffix for q in base][: count - len(out)]
        variant += 1
    return out


async def measure(http: httpx.AsyncClient, mode: str, texts: list[str], limit: int) -> Timed:
    timed = Timed()
    for text in texts:
        began = time.perf_counter()
        response = await http.get("/search", params={"q": text, "mode": mode, "limit": limit})
        wall = (time.perf_counter() - began) * 1000
        response.raise_for_status()
        stages = parse_header(response.headers.get("server-timing", ""))
        timed.add(wall, stages, len(response.json()["results"]))
    return timed


def report(mode: str, limit: int, round_: int, timed: Timed, conditions: str) -> None:
    hits = statistics.mean(timed.hits) if timed.hits else 0
    print(
        f"\n{mode:<9} limit {limit} round {round_}: {len(timed.wall_ms)} uncached queries, "
        f"{hits:.1f} hits each; wall p50 {pct(timed.wall_ms, 0.5):.1f} ms, p95 "
        f"{pct(timed.wall_ms, 0.95):.1f} ms ({conditions})"
    )
    print(f"  {'stage':<18}{'p50 ms':>9}{'p95 ms':>9}{'mean ms':>9}")
    for name in [*STAGES, *sorted(set(timed.stages) - set(STAGES))]:
        values = timed.stages.get(name)
        if values:
            print(f"  {name:<18}{pct(values, 0.5):>9.1f}{pct(values, 0.95):>9.1f}"
                  f"{statistics.mean(values):>9.1f}")  # fmt: skip


async def coalesced(http: httpx.AsyncClient, users: int) -> None:
    """``users`` identical cold queries at once: one computation answers them all."""
    text = f"how do deep ocean currents move heat {uuid.uuid4().hex[:6]}"
    began = time.perf_counter()
    responses = await asyncio.gather(
        *(http.get("/search", params={"q": text, "mode": "hybrid"}) for _ in range(users))
    )
    took = (time.perf_counter() - began) * 1000
    codes = sorted({r.status_code for r in responses})
    print(f"\n{users} identical cold hybrid queries at once: all answered in {took:.0f} ms, "
          f"status {codes} ({load()})")  # fmt: skip


async def run(url: str, args: argparse.Namespace) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        for i in range(3):  # models and tables loaded, connections open
            for mode in MODES:
                await http.get("/search", params={"q": f"warm up {i} {mode}", "mode": mode})
        for round_ in range(args.rounds):
            for limit in args.limits:
                for mode in MODES:
                    texts = queries(args.queries, round_ * 10 + args.limits.index(limit))
                    conditions = load()
                    timed = await measure(http, mode, texts, limit)
                    report(mode, limit, round_ + 1, timed, conditions)
        if args.coalesce:
            await coalesced(http, args.coalesce)


# -- its own stack ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def private_database(base: Settings) -> Iterator[str]:
    """A fresh, migrated database on the configured server, dropped afterwards."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from tellmemore.storage import migrate

    name = f"tmm_bench_{uuid.uuid4().hex[:10]}"
    admin = make_conninfo(base.database.url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo_to_dict(base.database.url)
    params["dbname"] = name
    url = make_conninfo(**{k: str(v) for k, v in params.items()})
    try:
        asyncio.run(migrate(url))
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))  # fmt: skip


async def load_catalog(settings: Settings, synthetic_rows: int = 0) -> str:
    from models.embedder import Embedder
    from models.settings import EmbedderSettings
    from models.types import Embeddings
    from tellmemore.index import SegmentStore, connect, maintain
    from tellmemore.research import load_eval_catalog
    from tellmemore.storage import ObjectStore, make_pool, model_artifacts

    model = Embedder(
        settings.models.embedder, artifacts=model_artifacts(settings.s3, settings.models)
    )

    async def embed(texts: Sequence[str], space: EmbedderSettings | None = None) -> Embeddings:
        return await asyncio.to_thread(model.embed_passages, list(texts))

    store = SegmentStore(connect(settings.lance, settings.s3), model.dimension)
    pool = make_pool(settings.database)
    await pool.open(wait=True)
    try:
        loaded = await load_eval_catalog(
            load_eval_set(), pool, store, embed, objects=ObjectStore(settings.s3)
        )
    finally:
        await pool.close()
    grown = grow(store, synthetic_rows, model.model.id) if synthetic_rows else ""
    # What the processor's upkeep does ``search.maintenance_settle_s`` after the last stored
    # episode: compaction and index updates (each episode's write was a fragment of its own).
    reports = [maintain(t, settings.search, text_column=c) for t, c in store.tables()]
    took = sum(r.seconds for r in reports)
    return (
        f"{loaded.podcasts} podcasts, {loaded.episodes} episodes, {loaded.segments} passages"
        f"{grown}; maintained (compaction, FTS and vector indexes) in {took:.1f} s"
    )


def grow(store: SegmentStore, rows: int, model_id: str, seed: int = 7) -> str:
    """``rows`` synthetic passages added to the stack's own passage table (on S3, as the
    catalog's): ``bench.search``'s generator, its sentences and vectors drawn from the
    catalog's passages just loaded. Their episodes are not in PostgreSQL (no audio URL, as a
    listener's search over a catalog this size would still find them) and they store no
    sentence vectors, so a synthetic hit is highlighted by its words alone."""
    from bench.search import synthetic_rows

    table = store.tables()[0][0]
    corpus = table.to_arrow()
    began = time.perf_counter()
    data, _ = synthetic_rows(corpus, rows, np.random.default_rng(seed), model_id, noise=0.15)
    data = data.select(table.schema.names).cast(table.schema)
    made = time.perf_counter() - began
    for offset in range(0, rows, 25_000):
        table.add(data.slice(offset, 25_000))
    return (
        f", then {rows:,} synthetic passages (generated in {made:.0f} s, written to S3 in "
        f"{time.perf_counter() - began - made:.0f} s)"
    )


@contextmanager
def own_stack(
    base: Settings, *, api_replicas: int | None = None, synthetic_rows: int = 0
) -> Iterator[str]:
    """The Serve app on a private Ray cluster over a private catalog (plus ``synthetic_rows``
    generated passages), with ``api_replicas`` API ingress replicas (``make run``'s count by
    default); everything it made is removed afterwards (the Ray processes by
    ``ray.shutdown``: they are this process's own)."""
    import redis

    from tellmemore.index import connect, live_tables
    from tellmemore.settings import RateLimitSettings, secret_environment

    with private_database(base) as db_url, tempfile.TemporaryDirectory(prefix="tmm-ray-") as tmp:
        settings = base.model_copy(
            update={
                "database": base.database.model_copy(update={"url": db_url}),
                "redis": base.redis.model_copy(
                    update={"key_prefix": f"tmm-bench-{uuid.uuid4().hex[:8]}:"}
                ),
                "lance": base.lance.model_copy(
                    update={"prefix": f"lance-bench-{uuid.uuid4().hex[:8]}"}
                ),
                "api": base.api.model_copy(update={"port": free_port()}),
                "rate_limit": RateLimitSettings(enabled=False),
            }
        )
        step = time.perf_counter()
        print(f"catalog: {asyncio.run(load_catalog(settings, synthetic_rows))} "
              f"(loaded in {time.perf_counter() - step:.0f} s)")  # fmt: skip
        os.environ["RAY_TMPDIR"] = tmp
        import ray

        from raykit.local import start_ray
        from serve_apps.builder import AppOptions
        from serve_apps.local import API_REPLICAS, deploy

        step = time.perf_counter()
        start_ray(num_cpus=8, environment=secret_environment(settings))
        try:
            replicas = API_REPLICAS if api_replicas is None else api_replicas
            ingress = AppOptions().ingress.model_copy(update={"num_replicas": replicas})
            options = AppOptions(ingress=ingress)
            cluster = deploy(settings, options, with_llm=False, timeout_s=600)
            print(f"stack up on {cluster.url} in {time.perf_counter() - step:.0f} s")
            yield cluster.url
        finally:
            ray.shutdown()
            client = redis.Redis.from_url(settings.redis.url)
            for key in client.scan_iter(match=settings.redis.key_prefix + "*"):
                client.delete(key)
            client.close()
            lance = connect(settings.lance, settings.s3)
            for name in live_tables(lance):
                lance.drop_table(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="a running stack (else one is started and stopped)")
    parser.add_argument("--queries", type=int, default=40, help="uncached queries per mode")
    parser.add_argument("--rounds", type=int, default=2, help="measurements of each mode")
    parser.add_argument("--limits", type=int, nargs="+", default=[10], help="hits per query")
    parser.add_argument("--coalesce", type=int, default=50, help="identical cold queries")
    parser.add_argument(
        "--synthetic-rows", type=int, default=0,
        help="passages generated into the own stack's table beside the catalog (1000000: the "
        "issue's 1M, IVF-PQ indexed by the same maintenance; ~20 min to build on 2 cores)",
    )  # fmt: skip
    args = parser.parse_args()
    print(f"search over HTTP; {load()}")
    if args.url:
        asyncio.run(run(args.url, args))
        return
    from tellmemore.settings import load_settings

    with own_stack(load_settings(), synthetic_rows=args.synthetic_rows) as url:
        asyncio.run(run(url, args))


if __name__ == "__main__":
    main()
