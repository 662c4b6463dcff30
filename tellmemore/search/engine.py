"""Hybrid search over transcript passages and episode summaries in LanceDB.

Each query runs two retrievers with the same prefilter — nearest neighbours of the query's
embedding (exact below ``vector_index_min_rows``, IVF-PQ with refinement above) and BM25 over
Lance's native full-text index — and fuses them (relative scores by default, reciprocal ranks
by setting). Semantic search finds paraphrases ("why do I wake up at 4am" → a passage on sleep
cycles); full-text finds the rare names and numbers embeddings blur ("Kepler-452b"); fusion
keeps both. The tables are the active index's, the query embedded in its space. LanceDB's API is
synchronous: its calls run in worker threads so an async server's loop never waits on a scan.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace

import numpy as np
from lancedb.query import MatchQuery

from models.settings import EmbedderSettings
from tellmemore.errors import CatalogError, ErrorKind
from tellmemore.index import (
    FixedIndex,
    IndexSource,
    IndexTables,
    TableReader,
    TableSource,
    index_for,
    sql_string,
)
from tellmemore.index import IndexView as _View
from tellmemore.metrics import VECTOR_SEARCH_SECONDS, timed
from tellmemore.search import timing
from tellmemore.search.checks import clean_limit, clean_query
from tellmemore.search.filters import where_clause
from tellmemore.search.fusion import reciprocal_rank_fusion, relative_score_fusion
from tellmemore.search.highlight import query_terms
from tellmemore.search.highlighter import SENTENCE_VECTORS, highlight_page, scored_page
from tellmemore.search.hits import (
    SEGMENT_COLUMNS,
    SUMMARY_COLUMNS,
    Ranked,
    arrow_rows,
    cosine,
    segment_hit,
)
from tellmemore.search.ports import TextEmbedder, Vectors
from tellmemore.search.types import NO_FILTERS, EpisodeHit, SearchFilters, SearchMode, SegmentHit
from tellmemore.settings import SearchSettings

log = logging.getLogger(__name__)


def _timed(key: str, query: str) -> AbstractContextManager[None]:
    """Time one LanceDB query; ``key`` tells the segments table ("id") from the episodes'."""
    return timed(VECTOR_SEARCH_SECONDS.labels("segments" if key == "id" else "episodes", query))


class SearchEngine:
    """Read-only search, safe to share between requests, over the index ``index`` names."""

    def __init__(
        self,
        db: TableSource,
        embedder: TextEmbedder,
        settings: SearchSettings,
        *,
        index: IndexSource | None = None,
    ) -> None:
        self._embedder = embedder
        self._settings = settings
        self._index = index or FixedIndex(index_for(EmbedderSettings()))
        self._tables = IndexTables(db, read_consistency_s=settings.read_consistency_s)
        # Searches computed, by kind ("segments", "episodes", "more_like"): what a cache or
        # coalescing in front of the engine saves shows here (and in the tests).
        self.computed: Counter[str] = Counter()

    async def _view(self) -> _View:
        return self._tables.view(await self._index.current())

    async def _embed_query(self, view: _View, text: str) -> Vectors:
        with timing.stage("embed"):
            vectors = await self._embedder.embed_queries([text], view.space)
        return np.asarray(vectors[0], dtype=np.float32)

    def clean_query(self, query: str) -> str:
        return clean_query(query, self._settings)

    def clean_limit(self, limit: int | None) -> int:
        return clean_limit(limit, self._settings)

    # -- passages ----------------------------------------------------------------------------

    async def search_segments(
        self,
        query: str,
        *,
        filters: SearchFilters = NO_FILTERS,
        mode: SearchMode = SearchMode.HYBRID,
        limit: int | None = None,
        candidates: int | None = None,
        with_highlights: bool = True,
        with_vectors: bool = False,
    ) -> list[SegmentHit]:
        """The best ``limit`` passages for ``query``; ``candidates`` per retriever before
        fusion (more for re-ranking callers such as "tell me more")."""
        self.computed["segments"] += 1
        text = self.clean_query(query)
        size = self.clean_limit(limit) if candidates is None else max(limit or 0, 1)
        pool = max(candidates or self._settings.candidates, size)
        where = where_clause(filters)
        view = await self._view()
        query_vector: Vectors | None = None
        semantic = fulltext = Ranked([], {})
        # Full-text needs no vector: it runs while the embedder deployment embeds the query.
        words = None if mode is SearchMode.SEMANTIC else asyncio.ensure_future(
            asyncio.to_thread(self._fulltext_segments, view, text, where, pool))  # fmt: skip
        try:
            if mode is not SearchMode.FULLTEXT:
                query_vector = await self._embed_query(view, text)
            with timing.stage("retrieve"):
                if mode is not SearchMode.FULLTEXT:  # with sentence vectors, for highlighting
                    semantic = await asyncio.to_thread(
                        self._vector_segments, view, query_vector, where, pool,
                        sentences=with_highlights,
                    )  # fmt: skip
                fulltext = await words if words is not None else fulltext
        finally:
            if words is not None and not words.done():
                words.cancel()  # the embedding failed: its answer is not wanted
        with timing.stage("fusion"):
            hits = self._fuse_segments(semantic, fulltext, size, query_vector)
        if with_highlights and hits:
            with timing.stage("highlight"):
                hits = await asyncio.to_thread(
                    highlight_page, view.segments, text, hits, query_vector, semantic.rows
                )
        if not with_vectors:
            hits = [replace(h, vector=None) for h in hits]
        return hits

    async def highlight_hits(
        self, query: str, hits: list[SegmentHit]
    ) -> tuple[list[SegmentHit], dict[str, np.ndarray]]:
        """``hits`` with their matching sentences marked, and each one's sentence scores (for
        callers that re-rank and trim first: the playlist planner)."""
        text = self.clean_query(query)
        view = await self._view()
        vector = await self._embed_query(view, text)
        return await asyncio.to_thread(scored_page, view.segments, text, hits, vector)

    async def segment(self, segment_id: str) -> SegmentHit | None:
        """One passage by id (with its vector), or None."""
        found = await self.segments([segment_id])
        return found[0] if found else None

    async def segments(self, segment_ids: Sequence[str]) -> list[SegmentHit]:
        """Passages by id, with their vectors, in one scan; ids not in the index are left out
        (a playlist being grown compares its candidates with the passages it holds)."""
        if not segment_ids:
            return []
        view = await self._view()
        return await asyncio.to_thread(self._segment_hits, view, list(dict.fromkeys(segment_ids)))

    async def more_like_segment(
        self,
        segment_id: str,
        *,
        filters: SearchFilters = NO_FILTERS,
        limit: int | None = None,
    ) -> list[SegmentHit]:
        """Passages nearest to a given passage, from other episodes first-class: the passage's
        own neighbours in its episode say the same thing and are left out."""
        self.computed["more_like"] += 1
        size = self.clean_limit(limit)
        view = await self._view()
        found = await asyncio.to_thread(self._segment_hits, view, [segment_id])
        source = found[0] if found else None
        if source is None or source.vector is None:
            raise CatalogError(
                "segment_not_found",
                "There is no passage with that id.",
                ErrorKind.NOT_FOUND,
            )
        excluded = replace(filters, exclude_segment_ids=(*filters.exclude_segment_ids, segment_id))
        where = where_clause(excluded)
        own_episode = f"episode_id != {sql_string(source.episode_id)}"
        where = f"({where}) AND {own_episode}" if where else own_episode
        vector = np.asarray(source.vector, dtype=np.float32)
        ranked = await asyncio.to_thread(self._vector_segments, view, vector, where, size)
        return [
            segment_hit(
                ranked.rows[key],
                score=1.0 / (rank + 1),
                similarity=ranked.rows[key]["_similarity"],
                ranks=(rank + 1, None),
                vector=False,
            )
            for rank, key in enumerate(ranked.keys)
        ]

    # -- episodes ----------------------------------------------------------------------------

    async def search_episodes(
        self,
        query: str,
        *,
        filters: SearchFilters = NO_FILTERS,
        mode: SearchMode = SearchMode.HYBRID,
        limit: int | None = None,
    ) -> list[EpisodeHit]:
        """Episodes whose summary (and topics) match: "episodes about ..."."""
        self.computed["episodes"] += 1
        text = self.clean_query(query)
        size = self.clean_limit(limit)
        pool = max(self._settings.candidates, size)
        where = where_clause(filters, durations=False)
        view = await self._view()
        semantic = fulltext = Ranked([], {})
        query_vector: Vectors | None = None
        if mode is not SearchMode.FULLTEXT:
            query_vector = await self._embed_query(view, text)
            semantic = await asyncio.to_thread(
                self._vector, view.summaries, "episode_id", SUMMARY_COLUMNS, query_vector,
                where, pool,
            )  # fmt: skip
        if mode is not SearchMode.SEMANTIC:
            fulltext = await asyncio.to_thread(
                self._fulltext, view.summaries, "episode_id", "summary", SUMMARY_COLUMNS, text,
                where, pool,
            )  # fmt: skip
        fused = self.fuse(semantic, fulltext)[:size]
        sem_rank = {k: i + 1 for i, k in enumerate(semantic.keys)}
        ft_rank = {k: i + 1 for i, k in enumerate(fulltext.keys)}
        hits = []
        for key, score in fused:
            row = semantic.rows.get(key) or fulltext.rows[key]
            hits.append(
                EpisodeHit(
                    episode_id=row["episode_id"],
                    podcast_id=row["podcast_id"],
                    episode_title=row["episode_title"],
                    podcast_title=row["podcast_title"],
                    published_at=row["published_at"],
                    summary=row["summary"],
                    topics=tuple(row["topics"] or ()),
                    score=score,
                    similarity=cosine(query_vector, row["vector"]),
                    semantic_rank=sem_rank.get(key),
                    fulltext_rank=ft_rank.get(key),
                )
            )
        return hits

    async def episode_summaries(self, episode_ids: Sequence[str]) -> dict[str, str]:
        """The one-paragraph summaries of these episodes (those that have one)."""
        if not episode_ids:
            return {}
        view = await self._view()
        return await asyncio.to_thread(self._summaries_of, view, list(dict.fromkeys(episode_ids)))

    # -- retrievers (run in threads) ---------------------------------------------------------

    def _vector_segments(
        self,
        view: _View,
        vector: Vectors | None,
        where: str | None,
        k: int,
        *,
        sentences: bool = False,
    ) -> Ranked:
        return self._vector(
            view.segments, "id", SEGMENT_COLUMNS, vector, where, k, sentences=sentences
        )

    def _fulltext_segments(self, view: _View, text: str, where: str | None, k: int) -> Ranked:
        return self._fulltext(view.segments, "id", "text", SEGMENT_COLUMNS, text, where, k)

    def _vector(
        self,
        reader: TableReader,
        key: str,
        columns: list[str],
        vector: Vectors | None,
        where: str | None,
        k: int,
        *,
        sentences: bool = False,
    ) -> Ranked:
        """The ``k`` rows nearest ``vector``; with ``sentences``, each keeps its stored sentence
        vectors (Arrow, under ``SENTENCE_VECTORS``): LanceDB reads them for those rows only."""
        table = reader.get()
        if table is None or vector is None:
            return Ranked([], {})
        sentences = sentences and SENTENCE_VECTORS in table.schema.names
        columns = [*columns, SENTENCE_VECTORS] if sentences else columns
        query = table.search(np.asarray(vector, dtype=np.float32), vector_column_name="vector")
        query = query.distance_type("cosine")
        if reader.has_index("vector", "IVF"):
            query = query.nprobes(self._settings.nprobes).refine_factor(
                self._settings.refine_factor
            )
        if where:
            query = query.where(where, prefilter=True)
        with _timed(key, "vector"), timing.stage("vector"):
            answer = query.select([*columns, "_distance"]).limit(k).to_arrow()
        rows = arrow_rows(answer, SENTENCE_VECTORS if sentences else None)
        for row in rows:
            row["_similarity"] = 1.0 - float(row.pop("_distance"))
        return Ranked([r[key] for r in rows], {r[key]: r for r in rows})

    def _fulltext(
        self,
        reader: TableReader,
        key: str,
        column: str,
        columns: list[str],
        text: str,
        where: str | None,
        k: int,
    ) -> Ranked:
        table = reader.get()
        if table is None or not reader.has_index(column, "FTS") or not query_terms(text):
            return Ranked([], {})
        query = table.search(MatchQuery(text, column), query_type="fts")  # type: ignore[call-arg]
        if where:
            query = query.where(where, prefilter=True)
        with _timed(key, "fts"), timing.stage("fts"):
            rows = query.select([*columns, "_score"]).limit(k).to_arrow().to_pylist()
        return Ranked([r[key] for r in rows], {r[key]: r for r in rows})

    def _segment_hits(self, view: _View, segment_ids: list[str]) -> list[SegmentHit]:
        table = view.segments.get()
        if table is None:
            return []
        listed = ", ".join(sql_string(s) for s in segment_ids)
        query = table.search().where(f"id IN ({listed})").select(SEGMENT_COLUMNS)
        rows = query.limit(len(segment_ids)).to_arrow().to_pylist()
        return [segment_hit(r, score=0.0, similarity=None, ranks=(None, None)) for r in rows]

    def _summaries_of(self, view: _View, episode_ids: list[str]) -> dict[str, str]:
        table = view.summaries.get()
        if table is None:
            return {}
        listed = ", ".join(sql_string(e) for e in episode_ids)
        rows = (
            table.search()
            .where(f"episode_id IN ({listed})")
            .select(["episode_id", "summary"])
            .limit(len(episode_ids))
            .to_arrow()
            .to_pylist()
        )
        return {r["episode_id"]: r["summary"] for r in rows}

    # -- fusion and highlighting -------------------------------------------------------------

    def fuse(self, semantic: Ranked, fulltext: Ranked) -> list[tuple[str, float]]:
        """One ranking from both retrievers, by the configured fusion (see ``fusion.py``)."""
        if self._settings.fusion == "rrf":
            return reciprocal_rank_fusion([semantic.keys, fulltext.keys], k=self._settings.rrf_k)
        alpha = self._settings.hybrid_alpha
        return relative_score_fusion(
            [
                {k: float(semantic.rows[k]["_similarity"]) for k in semantic.keys},
                {k: float(fulltext.rows[k]["_score"]) for k in fulltext.keys},
            ],
            [alpha, 1.0 - alpha],
        )

    def _fuse_segments(
        self, semantic: Ranked, fulltext: Ranked, size: int, query_vector: Vectors | None
    ) -> list[SegmentHit]:
        fused = self.fuse(semantic, fulltext)
        sem_rank = {k: i + 1 for i, k in enumerate(semantic.keys)}
        ft_rank = {k: i + 1 for i, k in enumerate(fulltext.keys)}
        hits = []
        for key, score in fused[:size]:
            row = semantic.rows.get(key) or fulltext.rows[key]
            similarity = row.get("_similarity")
            if similarity is None:
                similarity = cosine(query_vector, row["vector"])
            hits.append(
                segment_hit(
                    row,
                    score=score,
                    similarity=similarity,
                    ranks=(sem_rank.get(key), ft_rank.get(key)),
                )
            )
        return hits
