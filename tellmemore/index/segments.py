"""The LanceDB side of episode processing: retrieval passages and episode summaries.

Two tables, one row per passage (``segments``) and one per episode (``episode_summaries``).
Rows are keyed by stable ids and written with ``merge_insert``, so a rerun replaces an episode's
rows instead of duplicating them, and a re-segmentation that yields fewer passages leaves no
stale ones behind. Several processor replicas may write different episodes to the same tables at
once: Lance commits optimistically and rebases or retries conflicting commits itself; a bounded
retry here is the backstop for when its own retries run out.

Plain and synchronous (no Ray): callers on an event loop run these methods in a thread.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import lancedb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from models.types import ModelRef, RetrievalSegment, Summary
from tellmemore.clock import Clock, utc_now
from tellmemore.index.sql import sql_string
from tellmemore.index.writes import (
    check_schema,
    delete,
    ensure_fts,
    merge,
    open_or_create,
    refresh,
    retry_on_conflict,
)

log = logging.getLogger(__name__)


_TIMESTAMP = pa.timestamp("us", tz="UTC")
# Each passage's sentences embedded at index time, in the order search's sentence splitter
# finds them, so highlighting a hit found by meaning compares stored vectors with the query's
# instead of embedding sentences while a listener waits. Null where a writer gave none (rows
# written before the column existed, or a writer that does not embed sentences).
SENTENCE_VECTORS = "sentence_vectors"


def sentence_vectors_field(dimension: int) -> pa.Field:
    return pa.field(SENTENCE_VECTORS, pa.list_(pa.list_(pa.float32(), dimension)), nullable=True)


@dataclass(frozen=True)
class EpisodeMeta:
    """What the search tables repeat about an episode, so results need no database round trip."""

    episode_id: str
    podcast_id: str
    episode_title: str
    podcast_title: str
    published_at: datetime | None = None  # timezone-aware


def segments_schema(dimension: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("episode_id", pa.string(), nullable=False),
            pa.field("podcast_id", pa.string(), nullable=False),
            pa.field("index", pa.int32(), nullable=False),
            pa.field("start_s", pa.float64(), nullable=False),
            pa.field("end_s", pa.float64(), nullable=False),
            pa.field("text", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dimension), nullable=False),
            pa.field("published_at", _TIMESTAMP, nullable=True),
            pa.field("episode_title", pa.string(), nullable=False),
            pa.field("podcast_title", pa.string(), nullable=False),
            pa.field("segmenter_model", pa.string(), nullable=False),
            pa.field("transcript_model", pa.string(), nullable=False),
            pa.field("embedding_model", pa.string(), nullable=False),
            pa.field("updated_at", _TIMESTAMP, nullable=False),
            sentence_vectors_field(dimension),
        ]
    )


def summaries_schema(dimension: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("episode_id", pa.string(), nullable=False),
            pa.field("podcast_id", pa.string(), nullable=False),
            pa.field("summary", pa.string(), nullable=False),
            pa.field("topics", pa.list_(pa.string()), nullable=False),
            pa.field("chapters", pa.string(), nullable=False),  # JSON [{start_s, end_s, title}]
            pa.field("vector", pa.list_(pa.float32(), dimension), nullable=False),
            pa.field("llm_model", pa.string(), nullable=False),
            pa.field("embedding_model", pa.string(), nullable=False),
            pa.field("episode_title", pa.string(), nullable=False),
            pa.field("podcast_title", pa.string(), nullable=False),
            pa.field("published_at", _TIMESTAMP, nullable=True),
            pa.field("updated_at", _TIMESTAMP, nullable=False),
        ]
    )


class SegmentStore:
    """Passages and summaries of processed episodes in LanceDB, written idempotently."""

    def __init__(
        self,
        db: lancedb.DBConnection,
        dimension: int,
        *,
        segments_table: str = "segments",
        summaries_table: str = "episode_summaries",
        clock: Clock = utc_now,
    ) -> None:
        if dimension <= 0:
            raise ValueError(f"The vector dimension must be positive, not {dimension}.")
        self.dimension = dimension
        self._clock = clock
        self._segments = _open_segments(db, segments_table, dimension)
        self._summaries = open_or_create(db, summaries_table, summaries_schema(dimension))
        # Full-text indexes exist from the start: search's BM25 half needs one, and rows added
        # later are searched unindexed until index maintenance folds them in.
        for table, column in ((self._segments, "text"), (self._summaries, "summary")):
            retry_on_conflict(
                functools.partial(ensure_fts, table, column),
                what=f"the full-text index of {table.name}",
            )

    def tables(self) -> list[tuple[Any, str]]:
        """The search tables with their full-text column, for index maintenance."""
        return [(self._segments, "text"), (self._summaries, "summary")]

    def write_episode(
        self,
        episode: EpisodeMeta,
        segments: Sequence[RetrievalSegment],
        vectors: npt.NDArray[np.floating[Any]],
        summary: Summary | None,
        summary_vector: npt.NDArray[np.floating[Any]] | None,
        *,
        embedding_model: ModelRef,
        sentence_vectors: Sequence[npt.NDArray[np.floating[Any]] | None] | None = None,
    ) -> None:
        """Replace the episode's passages with ``segments`` (row i embedded as ``vectors[i]``,
        its sentences as the rows of ``sentence_vectors[i]`` when given) and upsert its
        summary; ``summary=None`` leaves any stored summary as it is.

        The passages are one commit: matching ids are updated, new ones inserted, and the
        episode's other rows deleted, so a reader never sees a half-replaced episode."""
        if (summary is None) != (summary_vector is None):
            raise ValueError("A summary and its vector come together: pass both or neither.")
        _check_segments(episode, segments)
        now = self._clock()
        passages = self._segment_rows(
            episode, segments, vectors, embedding_model, now, sentence_vectors
        )
        summary_row = None
        if summary is not None and summary_vector is not None:
            summary_row = self._summary_row(episode, summary, summary_vector, embedding_model, now)

        started = time.perf_counter()
        merge(
            self._segments,
            "id",
            passages,
            replace_where=f"episode_id = {sql_string(episode.episode_id)}",
            what=f"segments of episode {episode.episode_id}",
        )
        if summary_row is not None:
            merge(
                self._summaries,
                "episode_id",
                summary_row,
                what=f"summary of episode {episode.episode_id}",
            )
        log.info(
            "stored episode %s: %d segments%s in %.2fs",
            episode.episode_id,
            len(segments),
            " and its summary" if summary_row is not None else "",
            time.perf_counter() - started,
        )

    def episode_segments(self, episode_id: str) -> list[dict[str, Any]]:
        """The episode's passages (every column) in their order in the episode."""
        refresh(self._segments)
        rows = (
            self._segments.search()
            .where(f"episode_id = {sql_string(episode_id)}")
            .limit(None)
            .to_arrow()
        )
        result: list[dict[str, Any]] = rows.sort_by("index").to_pylist()
        return result

    def count_segments(self, episode_id: str | None = None) -> int:
        """Passages of one episode, or of all episodes."""
        refresh(self._segments)
        if episode_id is None:
            return self._segments.count_rows()
        return self._segments.count_rows(f"episode_id = {sql_string(episode_id)}")

    def episode_summary(self, episode_id: str) -> dict[str, Any] | None:
        """The episode's summary row with ``chapters`` decoded from JSON, or None."""
        refresh(self._summaries)
        rows = (
            self._summaries.search()
            .where(f"episode_id = {sql_string(episode_id)}")
            .limit(None)
            .to_arrow()
            .to_pylist()
        )
        if not rows:
            return None
        row: dict[str, Any] = rows[0]
        row["chapters"] = json.loads(row["chapters"])
        return row

    def delete_episode(self, episode_id: str) -> None:
        """Remove the episode's passages and summary (nothing happens if there are none)."""
        where = f"episode_id = {sql_string(episode_id)}"
        for table in (self._segments, self._summaries):
            retry_on_conflict(
                functools.partial(delete, table, where),
                what=f"episode {episode_id} from {table.name}",
            )

    def _check_vectors(
        self, vectors: npt.NDArray[np.floating[Any]], rows: int, name: str
    ) -> npt.NDArray[np.float32]:
        matrix = np.asarray(vectors, dtype=np.float32)
        if rows == 1 and matrix.ndim == 1:
            matrix = matrix.reshape(1, -1)
        if matrix.shape != (rows, self.dimension):
            raise ValueError(
                f"{name} has shape {tuple(np.shape(vectors))}; expected "
                f"({rows}, {self.dimension}): one {self.dimension}-dimensional vector "
                + ("for the summary." if name == "summary_vector" else "per segment.")
            )
        if not np.isfinite(matrix).all():
            raise ValueError(f"{name} contains NaN or infinite values.")
        return matrix

    def _segment_rows(
        self,
        episode: EpisodeMeta,
        segments: Sequence[RetrievalSegment],
        vectors: npt.NDArray[np.floating[Any]],
        embedding_model: ModelRef,
        now: datetime,
        sentence_vectors: Sequence[npt.NDArray[np.floating[Any]] | None] | None,
    ) -> pa.Table:
        matrix = self._check_vectors(vectors, len(segments), "vectors")
        count = len(segments)
        sentences = self._sentence_column(sentence_vectors, count)
        return pa.table(
            {
                "id": [s.id for s in segments],
                "episode_id": [episode.episode_id] * count,
                "podcast_id": [episode.podcast_id] * count,
                "index": pa.array([s.index for s in segments], pa.int32()),
                "start_s": pa.array([s.start_s for s in segments], pa.float64()),
                "end_s": pa.array([s.end_s for s in segments], pa.float64()),
                "text": [s.text for s in segments],
                "vector": _vector_column(matrix, self.dimension),
                "published_at": pa.array([_utc(episode.published_at)] * count, _TIMESTAMP),
                "episode_title": [episode.episode_title] * count,
                "podcast_title": [episode.podcast_title] * count,
                "segmenter_model": [s.model.id for s in segments],
                "transcript_model": [s.source.id for s in segments],
                "embedding_model": [embedding_model.id] * count,
                "updated_at": pa.array([now] * count, _TIMESTAMP),
                SENTENCE_VECTORS: sentences,
            },
            schema=segments_schema(self.dimension),
        )

    def _sentence_column(
        self, given: Sequence[npt.NDArray[np.floating[Any]] | None] | None, count: int
    ) -> pa.Array:
        kind = sentence_vectors_field(self.dimension).type
        if given is None:
            return pa.nulls(count, kind)
        if len(given) != count:
            raise ValueError(f"sentence_vectors has {len(given)} entries for {count} segments.")
        column: list[list[npt.NDArray[np.float32]] | None] = []
        for i, rows in enumerate(given):
            if rows is None:
                column.append(None)
                continue
            matrix = np.asarray(rows, dtype=np.float32)
            if matrix.ndim != 2 or matrix.shape[1] != self.dimension or not len(matrix):
                raise ValueError(
                    f"sentence_vectors[{i}] has shape {matrix.shape}; expected "
                    f"(sentences, {self.dimension})."
                )
            if not np.isfinite(matrix).all():
                raise ValueError(f"sentence_vectors[{i}] contains NaN or infinite values.")
            column.append(list(matrix))
        return pa.array(column, kind)

    def _summary_row(
        self,
        episode: EpisodeMeta,
        summary: Summary,
        vector: npt.NDArray[np.floating[Any]],
        embedding_model: ModelRef,
        now: datetime,
    ) -> pa.Table:
        matrix = self._check_vectors(vector, 1, "summary_vector")
        chapters = [
            {"start_s": c.start_s, "end_s": c.end_s, "title": c.title} for c in summary.chapters
        ]
        return pa.table(
            {
                "episode_id": [episode.episode_id],
                "podcast_id": [episode.podcast_id],
                "summary": [summary.summary],
                "topics": [list(summary.topics)],
                "chapters": [json.dumps(chapters, ensure_ascii=False)],
                "vector": _vector_column(matrix, self.dimension),
                "llm_model": [summary.model.id],
                "embedding_model": [embedding_model.id],
                "episode_title": [episode.episode_title],
                "podcast_title": [episode.podcast_title],
                "published_at": pa.array([_utc(episode.published_at)], _TIMESTAMP),
                "updated_at": pa.array([now], _TIMESTAMP),
            },
            schema=summaries_schema(self.dimension),
        )


def _open_segments(db: lancedb.DBConnection, name: str, dimension: int) -> lancedb.table.Table:
    """The passages table, created with every column; one made before ``sentence_vectors``
    existed gets it added (null in its rows) instead of being refused."""
    schema = segments_schema(dimension)
    try:
        table = db.open_table(name)
    except ValueError:
        return open_or_create(db, name, schema)
    # The other columns first: a table of another dimension is refused, not given a column.
    check_schema(name, table.schema, pa.schema([f for f in schema if f.name != SENTENCE_VECTORS]))
    if SENTENCE_VECTORS not in table.schema.names:
        retry_on_conflict(
            functools.partial(_add_sentence_column, table, dimension),
            what=f"the {SENTENCE_VECTORS} column of {name}",
        )
    check_schema(name, table.schema, schema)
    return table


def _add_sentence_column(table: lancedb.table.Table, dimension: int) -> None:
    refresh(table)
    if SENTENCE_VECTORS in table.schema.names:
        return  # another writer added it first
    try:
        table.add_columns(sentence_vectors_field(dimension))
    except (ValueError, RuntimeError, OSError):
        refresh(table)
        if SENTENCE_VECTORS not in table.schema.names:
            raise


def _check_segments(episode: EpisodeMeta, segments: Sequence[RetrievalSegment]) -> None:
    others = {s.episode_id for s in segments} - {episode.episode_id}
    if others:
        raise ValueError(
            f"Segments of episode(s) {sorted(others)} were passed for {episode.episode_id}."
        )
    ids = [s.id for s in segments]
    if len(set(ids)) != len(ids):
        raise ValueError(f"Segment ids repeat within episode {episode.episode_id}.")


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("published_at must be timezone-aware.")
    return moment.astimezone(UTC)


def _vector_column(matrix: npt.NDArray[np.float32], dimension: int) -> pa.FixedSizeListArray:
    flat = pa.array(np.ascontiguousarray(matrix, dtype=np.float32).reshape(-1), pa.float32())
    return pa.FixedSizeListArray.from_arrays(flat, dimension)
