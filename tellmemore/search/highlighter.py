"""Highlighting a page of hits with the sentence vectors stored at index time.

A hit that shares a word with the query gets that word's sentence (``highlight.py``). A hit
found by meaning alone shares none; its most similar sentence is the one to show, and the
similarities come from the sentence vectors processing stored with the passage
(``sentence_vectors``, one per sentence in ``sentences()`` order): one read of the page's rows,
one matrix product. Embedding the sentences here instead cost a model call per page that grew
with the number of hits (over a second for ten hits on 2 cores, issue 21). A passage stored
without sentence vectors (written before they existed, or by a writer that gives none) gets its
first sentence, as a hit without any score always did.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tellmemore.index import TableReader, sql_string
from tellmemore.search import timing
from tellmemore.search.highlight import highlight, query_terms, sentences
from tellmemore.search.hits import shares_term
from tellmemore.search.ports import Vectors
from tellmemore.search.types import SegmentHit

SENTENCE_VECTORS = "sentence_vectors"


def highlight_page(
    reader: TableReader, text: str, hits: Sequence[SegmentHit], query_vector: Vectors | None
) -> list[SegmentHit]:
    """``hits`` with their best sentence marked (blocking: LanceDB, so call it in a thread)."""
    terms = query_terms(text)
    by_meaning = [
        h.segment_id for h in hits if query_vector is not None and not shares_term(h.text, terms)
    ]
    scores: dict[str, list[float]] = {}
    if by_meaning and query_vector is not None:
        with timing.stage("highlight_vectors"):
            stored = sentence_vectors(reader, [h for h in hits if h.segment_id in by_meaning])
        query = np.asarray(query_vector, dtype=np.float32)
        scores = {key: [float(x) for x in matrix @ query] for key, matrix in stored.items()}
    return [
        replace(
            hit,
            highlight=highlight(
                hit.text,
                text,
                start_s=hit.start_s,
                end_s=hit.end_s,
                sentence_scores=scores.get(hit.segment_id),
            ),
        )
        for hit in hits
    ]


def sentence_vectors(reader: TableReader, hits: Sequence[SegmentHit]) -> dict[str, np.ndarray]:
    """The stored sentence vectors of ``hits`` by passage id (a matrix per passage), for the
    passages that have them and whose sentence count still matches their text."""
    table = reader.get()
    if table is None or not hits or SENTENCE_VECTORS not in table.schema.names:
        return {}
    # The episode filter lets the episode_id scalar index narrow the scan to a few fragments.
    episodes = ", ".join(sql_string(e) for e in sorted({h.episode_id for h in hits}))
    ids = ", ".join(sql_string(h.segment_id) for h in hits)
    rows: pa.Table = (
        table.search()
        .where(f"episode_id IN ({episodes}) AND id IN ({ids})")
        .select(["id", SENTENCE_VECTORS])
        .limit(len(hits))
        .to_arrow()
    )
    expected = {h.segment_id: len(sentences(h.text)) for h in hits}
    out: dict[str, np.ndarray] = {}
    column = rows.column(SENTENCE_VECTORS).combine_chunks()
    for key, position in zip(rows.column("id").to_pylist(), range(len(rows)), strict=True):
        if not column[position].is_valid:
            continue
        matrix = _matrix(column[position].values)
        if len(matrix) == expected.get(key):
            out[key] = matrix
    return out


def _matrix(values: pa.Array) -> np.ndarray:
    """A list of fixed-size float lists as a (rows, dimension) float32 matrix, without a copy
    through Python objects."""
    if len(values) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    dimension = values.type.list_size
    flat = pc.list_flatten(values).to_numpy(zero_copy_only=False)
    return np.asarray(flat, dtype=np.float32).reshape(-1, dimension)


def passage_sentences(texts: Sequence[str]) -> tuple[list[str], list[int]]:
    """Every passage's sentences as the highlighter splits them, flat (to embed with the
    passages at index time), and how many each passage has (to regroup the vectors)."""
    flat: list[str] = []
    counts: list[int] = []
    for text in texts:
        parts = [text[s.start : s.end] for s in sentences(text)]
        flat += parts
        counts.append(len(parts))
    return flat, counts


def by_passage(matrix: np.ndarray, counts: Sequence[int]) -> list[np.ndarray]:
    """Rows of ``matrix`` regrouped per passage (``counts`` from :func:`passage_sentences`)."""
    if len(matrix) != sum(counts):
        raise ValueError(f"{len(matrix)} sentence vectors for {sum(counts)} sentences.")
    bounds = np.cumsum([0, *counts])
    return [matrix[a:b] for a, b in itertools.pairwise(bounds)]
