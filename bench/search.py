"""Search quality on the labelled set, and search latency on it and on a 100k-passage table.

    .venv/bin/python -m bench.search                          # everything (~5-10 min, 2 cores)
    .venv/bin/python -m bench.search --skip-synthetic         # quality and demo latency only
    .venv/bin/python -m bench.search --synthetic-rows 20000 --queries 20 --rounds 3
    .venv/bin/python -m bench.search --synthetic-rows 1000000 --queries 12 --rounds 3 \
        --sweep 20:5,40:10,80:10                        # 1M passages, IVF-PQ settings

The labelled corpus (``tellmemore/research/search_eval/``) is embedded with the real model into
a LanceDB
folder of its own (a temp dir, removed at the end); PostgreSQL is not touched, since search
reads only LanceDB. Then:

- **quality**: nDCG@10 and recall@10 of semantic, full-text and both hybrid fusions, over all
  queries and per query kind, and the default hybrid's worst queries;
- **demo latency**: ``SearchEngine.search_segments`` per mode, uncached, with highlights (as
  the API calls it), the query embedding alone, and ``SearchService`` cache hits in the real
  Redis (a key prefix of its own, deleted at the end);
- **100k passages**: a synthetic table whose texts recombine the corpus's sentences and whose
  vectors mix the corpus's passage vectors (plus noise), so full-text and vector search see
  realistic vocabulary and geometry without embedding 100k texts. Timed with exact vector
  search, after ``maintain()`` builds the IVF-PQ index, and with a podcast prefilter; query
  vectors are computed once beforehand so these figures are the table's cost alone.

Queries run one at a time; the first round of each measurement is a warm-up and not counted.
Prints figures with the machine's load average (other work skews them); asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any
from unittest.mock import patch

import lancedb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import redis.asyncio as aioredis

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from models.embedder import Embedder, LocalTextEmbedder
from models.settings import EmbedderSettings
from models.types import Embeddings
from tellmemore.index import SegmentStore, connect, ensure_fts_index, maintain, segments_schema
from tellmemore.index import maintenance as indexes
from tellmemore.research import (
    EvalQuery,
    EvalSet,
    QueryKind,
    evaluate,
    load_eval_set,
    mean,
    standard_methods,
    store_eval_passages,
)
from tellmemore.search import (
    NO_FILTERS,
    SEARCH_CACHE,
    SearchEngine,
    SearchFilters,
    SearchMode,
    SearchService,
    Vectors,
    sentences,
)
from tellmemore.settings import LanceSettings, SearchSettings, Settings, load_settings
from tellmemore.storage import ResultCache

K = 10
KINDS: tuple[QueryKind, ...] = ("paraphrase", "keyword", "mixed")
MODES = (SearchMode.SEMANTIC, SearchMode.FULLTEXT, SearchMode.HYBRID)
Search = Callable[[str], Awaitable[Any]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=None, help="eval queries timed (all)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per timing, 1 warm-up")
    parser.add_argument("--synthetic-rows", type=int, default=100_000)
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--noise", type=float, default=0.15, help="synthetic vector noise norm")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--sweep", type=_pairs, default=[], metavar="NPROBES:REFINE,...",
        help="after the index is built, semantic latency and overlap with exact per setting",
    )  # fmt: skip
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tmm-bench-search-") as tmp:
        asyncio.run(_run(args, load_settings(), Path(tmp)))
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


async def _run(args: argparse.Namespace, settings: Settings, tmp: Path) -> None:
    eval_set = load_eval_set()
    timed = [q.query for q in eval_set.queries[: args.queries]]
    text_embedder = LocalTextEmbedder(settings.models.embedder)
    defaults = SearchSettings()
    cpu = next((line.split(":", 1)[1].strip() for line in _cpuinfo() if "model name" in line), "")
    print(f"machine: {os.cpu_count()} cores {cpu} ({platform.python_version()}); {_load()}")
    print(
        f"embedding model {text_embedder.model_id}; lancedb {lancedb.__version__}, "
        f"pylance {version('pylance')}; search defaults: fusion {defaults.fusion}, alpha "
        f"{defaults.hybrid_alpha}, rrf_k {defaults.rrf_k}, candidates {defaults.candidates}, "
        f"nprobes {defaults.nprobes}, refine_factor {defaults.refine_factor}"
    )

    step = time.perf_counter()
    db = connect(LanceSettings(location=str(tmp), prefix="corpus"), settings.s3)
    count = await _load_corpus(eval_set, db, settings)
    print(f"corpus: {count} passages, {len(eval_set.queries)} queries, embedded and written in "
          f"{time.perf_counter() - step:.1f} s")  # fmt: skip

    await _quality(eval_set, db, text_embedder, defaults)
    await _demo_latency(timed, db, text_embedder, defaults, settings, args.rounds)
    if not args.skip_synthetic:
        corpus = db.open_table("segments").to_arrow().select(["text", "vector"])
        await _synthetic(args, timed, tmp / "synthetic", corpus, text_embedder, defaults)


async def _load_corpus(eval_set: EvalSet, db: lancedb.DBConnection, settings: Settings) -> int:
    model = Embedder(settings.models.embedder)
    store = SegmentStore(db, model.dimension)

    async def embed(texts: Sequence[str], space: EmbedderSettings | None = None) -> Embeddings:
        return await asyncio.to_thread(model.embed_passages, list(texts))

    return await store_eval_passages(eval_set, store, embed)


# ---- quality -----------------------------------------------------------------------------------


async def _quality(
    eval_set: EvalSet, db: lancedb.DBConnection, embedder: LocalTextEmbedder, base: SearchSettings
) -> None:
    methods = standard_methods(base)
    report = await evaluate(lambda s: SearchEngine(db, embedder, s), eval_set, methods, k=K)
    scores = {(r.method, r.query_id): (r.ndcg, r.recall) for r in report.per_query.itertuples()}
    groups: list[tuple[str, Sequence[EvalQuery]]] = [("all", eval_set.queries)]
    groups += [(kind, eval_set.queries_of(kind)) for kind in KINDS]
    heads = "".join(f"{label[:10]:>11}" for label, _ in groups)
    width = max(len(m.name) for m in methods)
    counts = ", ".join(f"{label} {len(qs)}" for label, qs in groups)
    print(f"\n== quality on the labelled set (queries: {counts}) ==")
    print(f"{'':<{width}}{f'nDCG@{K}':>11}{'':<33} |{f'recall@{K}':>11}")
    print(f"{'method':<{width}}{heads} |{heads}")
    for m in methods:
        ndcg = "".join(f"{mean(scores[m.name, q.id][0] for q in qs):>11.3f}" for _, qs in groups)
        recall = "".join(f"{mean(scores[m.name, q.id][1] for q in qs):>11.3f}" for _, qs in groups)
        print(f"{m.name:<{width}}{ndcg} |{recall}")

    default = methods[2].name
    print(f"\nworst 5 queries of the default ({default}):")
    for q in report.worst(default).itertuples():
        print(f"  {q.query_id:<8} {q.kind:<10} nDCG {q.ndcg:.3f}  recall {q.recall:.2f}  "
              f"{q.query[:70]!r}")  # fmt: skip


# ---- latency on the demo catalog ---------------------------------------------------------------


async def _demo_latency(
    queries: Sequence[str],
    db: lancedb.DBConnection,
    embedder: LocalTextEmbedder,
    base: SearchSettings,
    settings: Settings,
    rounds: int,
) -> None:
    engine = SearchEngine(db, embedder, base)
    cases: dict[str, Search] = {"embed_queries alone": lambda q: embedder.embed_queries([q])}
    for mode in MODES:
        cases[mode.value] = _search(engine, mode)
    for mode in (SearchMode.SEMANTIC, SearchMode.HYBRID):
        cases[f"{mode.value}, highlights off"] = _search(engine, mode, highlights=False)
    print(f"\n== latency, demo catalog: {len(queries)} queries x {rounds - 1} rounds, uncached, "
          f"highlights on; {_load()} ==")  # fmt: skip
    _print_latency(await _measure(cases, queries, rounds))
    print(f"after: {_load()}")
    await _cached(queries, engine, settings, rounds)


async def _cached(
    queries: Sequence[str], engine: SearchEngine, settings: Settings, rounds: int
) -> None:
    client = aioredis.Redis.from_url(settings.redis.url)
    prefix = f"tmm-bench-search-{uuid.uuid4().hex[:8]}:"
    try:
        await client.ping()
        cache = ResultCache(client, SEARCH_CACHE, ttl_s=600, key_prefix=prefix)
        service = SearchService(engine, cache)
        misses: list[float] = []
        for _ in range(rounds - 1):
            await cache.invalidate()  # a new generation: every stored answer is stale
            for query in queries:
                began = time.perf_counter()
                await service.segments(query)
                misses.append((time.perf_counter() - began) * 1e3)
        hits = await _measure({"hybrid, hit": service.segments}, queries, rounds)
        print(f"\n== cached path: SearchService.segments (hybrid) with Redis at "
              f"{settings.redis.url}; {_load()} ==")  # fmt: skip
        _print_latency({"hybrid, miss (search + store)": misses} | hits)
    except (OSError, aioredis.RedisError) as exc:
        print(f"\ncached path skipped: Redis unavailable ({exc})")
    finally:
        try:
            keys = [key async for key in client.scan_iter(match=prefix + "*")]
            if keys:
                await client.delete(*keys)
        except (OSError, aioredis.RedisError):
            pass
        await client.aclose()


def _search(
    engine: SearchEngine,
    mode: SearchMode,
    filters: Callable[[str], SearchFilters] | None = None,
    *,
    highlights: bool = True,
) -> Search:
    async def run(query: str) -> Any:
        where = filters(query) if filters else NO_FILTERS
        return await engine.search_segments(
            query, mode=mode, limit=K, filters=where, with_highlights=highlights
        )

    return run


async def _measure(
    cases: dict[str, Search], queries: Sequence[str], rounds: int
) -> dict[str, list[float]]:
    """Milliseconds per call for each case; cases alternate query by query so that drifting
    machine load hits them alike. Round 0 is a warm-up."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for round_ in range(rounds):
        for query in queries:
            for name, call in cases.items():
                began = time.perf_counter()
                await call(query)
                if round_:
                    samples[name].append((time.perf_counter() - began) * 1e3)
    return samples


def _print_latency(samples: dict[str, list[float]]) -> None:
    width = max(len(name) for name in samples)
    print(f"{'':<{width}}  {'n':>5} {'mean ms':>9} {'p50 ms':>9} {'p95 ms':>9}")
    for name, values in samples.items():
        p50, p95 = np.percentile(values, [50, 95])
        print(f"{name:<{width}}  {len(values):>5} {mean(values):>9.1f} {p50:>9.1f} {p95:>9.1f}")


# ---- the synthetic 100k-passage table ----------------------------------------------------------


class _PrecomputedQueries:
    """A ``TextEmbedder`` answering the benchmark's queries from vectors computed beforehand."""

    def __init__(self, model_id: str, vectors: dict[str, Vectors]) -> None:
        self._model_id = model_id
        self._vectors = vectors

    @property
    def model_id(self) -> str:
        return self._model_id

    async def embed_queries(
        self, texts: Sequence[str], space: EmbedderSettings | None = None
    ) -> Vectors:
        return np.stack([self._vectors[t] for t in texts])

    async def embed_passages(
        self, texts: Sequence[str], space: EmbedderSettings | None = None
    ) -> Vectors:
        raise NotImplementedError("highlights are off in the synthetic runs")


async def _synthetic(
    args: argparse.Namespace,
    queries: Sequence[str],
    folder: Path,
    corpus: pa.Table,
    embedder: LocalTextEmbedder,
    base: SearchSettings,
) -> None:
    rows, rng = args.synthetic_rows, np.random.default_rng(args.seed)
    step = time.perf_counter()
    data, podcast_ids = synthetic_rows(corpus, rows, rng, embedder.model_id, noise=args.noise)
    made_s = time.perf_counter() - step
    db = lancedb.connect(folder)
    step = time.perf_counter()
    batch = 25_000
    table = db.create_table("segments", data=data.slice(0, batch), schema=data.schema)
    for offset in range(batch, rows, batch):
        table.add(data.slice(offset, batch))
    written_s = time.perf_counter() - step
    step = time.perf_counter()
    ensure_fts_index(table, "text")
    fts_s = time.perf_counter() - step
    print(f"\n== synthetic table: {table.count_rows():,} passages, {len(podcast_ids)} podcasts "
          f"(~{rows // len(podcast_ids)} passages each, the '1 podcast' filter's share); "
          f"generated {made_s:.1f} s, written {written_s:.1f} s, FTS index {fts_s:.1f} s; "
          f"{_size(folder)} on disk ==")  # fmt: skip

    vectors = await embedder.embed_queries(list(queries))
    fixed = _PrecomputedQueries(embedder.model_id, dict(zip(queries, vectors, strict=True)))
    by_query = {q: podcast_ids[i % len(podcast_ids)] for i, q in enumerate(queries)}

    def one_podcast(query: str) -> SearchFilters:
        return SearchFilters(podcast_ids=(by_query[query],))

    async def phase(title: str) -> dict[str, dict[str, list[str]]]:
        engine = SearchEngine(db, fixed, base)
        cases: dict[str, Search] = {}
        for mode in MODES:
            cases[mode.value] = _search(engine, mode, highlights=False)
        for mode in MODES:
            cases[f"{mode.value}, 1 podcast"] = _search(engine, mode, one_podcast, highlights=False)
        print(f"\n-- {title}: {len(queries)} queries x {args.rounds - 1} rounds, query vectors "
              f"precomputed, highlights off; {_load()}")  # fmt: skip
        _print_latency(await _measure(cases, queries, args.rounds))
        answers: dict[str, dict[str, list[str]]] = {}
        for name, call in cases.items():
            answers[name] = {q: [h.segment_id for h in await call(q)] for q in queries}
        return answers

    exact = await phase("(a) exact vector search (no vector index)")
    step = time.perf_counter()
    build = _TimedBuild()
    with patch.object(indexes, "build_vector_index", build):
        # The minimum lowered so that a smaller --synthetic-rows gets an index too.
        report = maintain(table, base.model_copy(update={"vector_index_min_rows": 256}))
    print(f"\nmaintain(): {time.perf_counter() - step:.1f} s, of which the IVF-PQ build "
          f"{build.seconds:.1f} s (FTS {report.fts}, vector index {report.vector}, "
          f"{report.unindexed_vectors} unindexed); {_describe_index(table)}; {_size(folder)} "
          f"on disk (older versions included); {_load()}")  # fmt: skip
    indexed = await phase(
        f"(b, c) IVF-PQ index, nprobes {base.nprobes}, refine {base.refine_factor}"
    )
    print(f"\nIVF-PQ vs exact: mean overlap of the top {K} / mean hits returned")
    for name in exact:
        overlap = mean(_overlap(indexed[name][q], exact[name][q]) for q in queries)
        returned = mean(len(indexed[name][q]) for q in queries)
        print(f"  {name:<22} {overlap:6.2f}  {returned:5.1f} (exact: "
              f"{mean(len(exact[name][q]) for q in queries):.1f})")  # fmt: skip
    if args.sweep:
        print(f"\n-- (d) IVF-PQ settings, semantic: p50 / p95 ms, overlap with exact top {K}; "
              f"{_load()}")  # fmt: skip
    for nprobes, refine in args.sweep:
        tuned = base.model_copy(update={"nprobes": nprobes, "refine_factor": refine})
        engine = SearchEngine(db, fixed, tuned)
        cases = {
            "semantic": _search(engine, SearchMode.SEMANTIC, highlights=False),
            "semantic, 1 podcast": _search(engine, SearchMode.SEMANTIC, one_podcast,
                                           highlights=False),
        }  # fmt: skip
        samples = await _measure(cases, queries, args.rounds)
        parts = []
        for name, call in cases.items():
            found = {q: [h.segment_id for h in await call(q)] for q in queries}
            overlap = mean(_overlap(found[q], exact[name][q]) for q in queries)
            p50, p95 = np.percentile(samples[name], [50, 95])
            parts.append(f"{name} {p50:.1f} / {p95:.1f} ms, {overlap:.3f}")
        print(f"  nprobes {nprobes:>4}, refine {refine:>3}:  " + ";  ".join(parts))


class _TimedBuild:
    """``indexes.build_vector_index``, timed: ``maintain`` also compacts and optimizes, and the
    index training is the part worth knowing."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._build = indexes.build_vector_index

    def __call__(self, table: Any, rows: int, dimension: int) -> None:
        began = time.perf_counter()
        self._build(table, rows, dimension)
        self.seconds += time.perf_counter() - began


def _describe_index(table: Any) -> str:
    for index in table.list_indices():
        if "vector" in index.columns:
            stats = table.index_stats(index.name)
            parts = getattr(stats, "num_indices", None)
            return f"{index.index_type} index, {stats.num_indexed_rows:,} rows indexed" + (
                f" in {parts} segment(s)" if parts else ""
            )
    return "no vector index"


def synthetic_rows(
    corpus: pa.Table, rows: int, rng: np.random.Generator, model_id: str, *, noise: float
) -> tuple[pa.Table, list[str]]:
    """``rows`` passages of 4-8 random corpus sentences each, vectors the normalised mix of
    their source passages' vectors plus gaussian noise of norm ~``noise``, spread over 200
    podcasts of 25 episodes (published over three years, passages 45-120 s long)."""
    texts: list[str] = corpus.column("text").to_pylist()
    passage_vectors = np.asarray(corpus.column("vector").to_pylist(), dtype=np.float32)
    pool, source = [], []
    for i, text in enumerate(texts):
        for s in sentences(text):
            pool.append(text[s.start : s.end])
            source.append(i)
    sources = np.asarray(source)
    counts = rng.integers(4, 9, rows)
    picks = rng.integers(0, len(pool), int(counts.sum()))
    ends = np.cumsum(counts)
    starts = ends - counts
    row_texts = [" ".join(pool[j] for j in picks[a:b]) for a, b in zip(starts, ends, strict=True)]

    dim = passage_vectors.shape[1]
    vectors = np.empty((rows, dim), dtype=np.float32)
    row_of_pick = np.repeat(np.arange(rows), counts)
    for lo in range(0, rows, 20_000):
        hi = min(lo + 20_000, rows)
        mask = (row_of_pick >= lo) & (row_of_pick < hi)
        weights = np.zeros((hi - lo, len(texts)), dtype=np.float32)
        np.add.at(weights, (row_of_pick[mask] - lo, sources[picks[mask]]), 1.0)
        vectors[lo:hi] = _unit(weights @ passage_vectors)
    vectors = _unit(vectors + rng.normal(0, noise / np.sqrt(dim), vectors.shape).astype(np.float32))

    podcasts, per_podcast = 200, 25
    episodes = podcasts * per_podcast
    episode = np.sort(rng.integers(0, episodes, rows))
    index = np.arange(rows) - np.searchsorted(episode, episode, side="left")
    length = rng.uniform(45, 120, rows)
    end = np.cumsum(length)
    first = np.searchsorted(episode, episode, side="left")
    start_s = end - length - (end - length)[first]
    namespace = uuid.UUID("a0c4d1e2-5b6f-4a7b-8c9d-0e1f2a3b4c5d")
    episode_ids = [str(uuid.uuid5(namespace, f"episode-{e}")) for e in range(episodes)]
    podcast_ids = [str(uuid.uuid5(namespace, f"podcast-{p}")) for p in range(podcasts)]
    origin = datetime(2022, 6, 1, tzinfo=UTC)
    published = [origin + timedelta(days=float(d)) for d in rng.uniform(0, 3 * 365, episodes)]
    show = episode // per_podcast
    now = datetime.now(UTC)
    schema = segments_schema(dim)
    columns: dict[str, Any] = {
        "id": [f"{episode_ids[e]}:{i:05d}" for e, i in zip(episode, index, strict=True)],
        "episode_id": [episode_ids[e] for e in episode],
        "podcast_id": [podcast_ids[p] for p in show],
        "index": pa.array(index, pa.int32()),
        "start_s": pa.array(start_s, pa.float64()),
        "end_s": pa.array(start_s + length, pa.float64()),
        "text": row_texts,
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim),
        "published_at": pa.array(
            [published[e] for e in episode], schema.field("published_at").type
        ),
        "episode_title": [f"Episode {e % per_podcast + 1}" for e in episode],
        "podcast_title": [f"Synthetic show {p}" for p in show],
        "segmenter_model": ["synthetic"] * rows,
        "transcript_model": ["synthetic"] * rows,
        "embedding_model": [model_id] * rows,
        "updated_at": pa.array([now] * rows, schema.field("updated_at").type),
    }
    # Columns the synthetic runs never read (stored sentence vectors: highlights are off).
    for column in schema:
        columns.setdefault(column.name, pa.nulls(rows, column.type))
    table = pa.table(columns, schema=schema)
    return table, sorted(set(podcast_ids[p] for p in np.unique(show)))


def _unit(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit: npt.NDArray[np.float32] = (matrix / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


def _pairs(text: str) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in (pair.split(":") for pair in text.split(",") if pair)]


def _overlap(found: Sequence[str], truth: Sequence[str]) -> float:
    return len(set(found) & set(truth)) / max(len(truth), 1)


# ---- small things ------------------------------------------------------------------------------


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def _size(folder: Path) -> str:
    total = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    return f"{total / 2**20:.0f} MiB"


if __name__ == "__main__":
    main()
