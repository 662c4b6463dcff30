"""Rows from the search tables as the engine handles them: which columns a search reads, one
retriever's ranked answer, and the conversion of a row into a :class:`SegmentHit`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from tellmemore.search.highlight import term_marks
from tellmemore.search.ports import Vectors
from tellmemore.search.types import SegmentHit

SEGMENT_COLUMNS = [
    "id",
    "episode_id",
    "podcast_id",
    "episode_title",
    "podcast_title",
    "published_at",
    "index",
    "start_s",
    "end_s",
    "text",
    "vector",
]
SUMMARY_COLUMNS = [
    "episode_id",
    "podcast_id",
    "episode_title",
    "podcast_title",
    "published_at",
    "summary",
    "topics",
    "vector",
]


@dataclass(frozen=True)
class Ranked:
    """One retriever's answer: rows by key, in rank order."""

    keys: list[str]
    rows: dict[str, dict[str, Any]]


def shares_term(text: str, terms: frozenset[str]) -> bool:
    return bool(terms) and bool(term_marks(text, terms, 0, len(text)))


def cosine(query_vector: Vectors | None, vector: Sequence[float] | None) -> float | None:
    if query_vector is None or vector is None:
        return None
    return float(np.dot(np.asarray(vector, dtype=np.float32), query_vector))


def segment_hit(
    row: dict[str, Any],
    *,
    score: float,
    similarity: float | None,
    ranks: tuple[int | None, int | None],
    vector: bool = True,
) -> SegmentHit:
    raw = row.get("vector")
    return SegmentHit(
        segment_id=row["id"],
        episode_id=row["episode_id"],
        podcast_id=row["podcast_id"],
        episode_title=row["episode_title"],
        podcast_title=row["podcast_title"],
        published_at=row["published_at"],
        index=int(row["index"]),
        start_s=float(row["start_s"]),
        end_s=float(row["end_s"]),
        text=row["text"],
        score=score,
        similarity=similarity,
        semantic_rank=ranks[0],
        fulltext_rank=ranks[1],
        vector=tuple(float(x) for x in raw) if vector and raw is not None else None,
    )


def arrow_rows(answer: pa.Table, kept: str | None) -> list[dict[str, Any]]:
    """An answer's rows as dicts; the ``kept`` column stays Arrow (one value per row): sentence
    vectors as Python floats would cost more than the query."""
    if kept is None:
        return answer.to_pylist()  # type: ignore[no-any-return]
    column = answer.column(kept).combine_chunks()
    rows: list[dict[str, Any]] = answer.drop_columns([kept]).to_pylist()
    for position, row in enumerate(rows):
        row[kept] = column[position]
    return rows
