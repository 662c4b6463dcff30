"""Highlighting a page of hits with the sentence vectors stored at index time.

A hit that shares a word with the query gets that word's sentence (``highlight.py``). A hit
found by meaning alone shares none; its most similar sentence is the one to show, and the
similarities come from the sentence vectors processing stored with the passage
(``sentence_vectors``, one per sentence in ``sentences()`` order): brought by the vector query
for the hits it found, read in one query for the others (full-text hits); one matrix product.
Embedding the sentences here instead cost a model call per page that grew
with the number of hits (over a second for ten hits on 2 cores, issue 21). A passage stored
without sentence vectors (written before they existed, or by a writer that gives none) gets its
first sentence, as a hit without any score always did.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

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
    reader: TableReader,
    text: str,
    hits: Sequence[SegmentHit],
    query_vector: Vectors | None,
    fetched: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[SegmentHit]:
    """``hits`` with their best sentence marked (blocking: LanceDB, so call it in a thread).

    ``fetched``: the vector query's rows by passage id, which carry their sentence vectors
    under ``sentence_vectors`` (an Arrow list value, null for a passage stored without) when
    it selected them; only the hits found by meaning without them (full-text hits) are read,
    in one query."""
    terms = query_terms(text)
    by_meaning = [h for h in hits if query_vector is not None and not shares_term(h.text, terms)]
    scores: dict[str, list[float]] = {}
    if by_meaning and query_vector is not None:
        came = {
            key: row[SENTENCE_VECTORS]
            for key, row in (fetched or {}).items()
            if SENTENCE_VECTORS in row
        }
        stored = _checked(came, [h for h in by_meaning if h.segment_id in came])
        missing = [h for h in by_meaning if h.segment_id not in came]
        if missing:
            with timing.stage("highlight_vectors"):
                stored.update(sentence_vectors(reader, missing))
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


def scored_page(
    reader: TableReader, text: str, hits: Sequence[SegmentHit], query_vector: Vectors | None
) -> tuple[list[SegmentHit], dict[str, np.ndarray]]:
    """``hits`` highlighted as :func:`highlight_page` does, and every hit's sentence scores
    (cosine to the query, one per sentence) by passage id, for the hits stored with sentence
    vectors: a playlist trims its items with them (``trim.py``). One read for all hits."""
    if query_vector is None:
        return highlight_page(reader, text, hits, None), {}
    with timing.stage("highlight_vectors"):
        stored = sentence_vectors(reader, hits)
    query = np.asarray(query_vector, dtype=np.float32)
    scores = {key: matrix @ query for key, matrix in stored.items()}
    terms = query_terms(text)

    def marked(hit: SegmentHit) -> SegmentHit:
        found = scores.get(hit.segment_id)
        by_meaning = found is not None and len(found) > 0 and not shares_term(hit.text, terms)
        scored = [float(x) for x in found] if by_meaning and found is not None else None
        mark = highlight(
            hit.text, text, start_s=hit.start_s, end_s=hit.end_s, sentence_scores=scored
        )
        return replace(hit, highlight=mark)

    return [marked(h) for h in hits], scores


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
    column = rows.column(SENTENCE_VECTORS).combine_chunks()
    found = {key: column[i] for i, key in enumerate(rows.column("id").to_pylist())}
    return _checked(found, hits)


def _checked(found: Mapping[str, pa.Scalar], hits: Sequence[SegmentHit]) -> dict[str, np.ndarray]:
    """The matrices of ``hits`` in ``found`` that are stored (not null) and whose sentence
    count still matches their text."""
    out: dict[str, np.ndarray] = {}
    for hit in hits:
        value = found.get(hit.segment_id)
        if value is None or not value.is_valid:
            continue
        matrix = _matrix(value.values)
        if len(matrix) == len(sentences(hit.text)):
            out[hit.segment_id] = matrix
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


def sentence_key(text: str) -> str:
    """A sentence's text with its whitespace folded: the segmenter and the highlighter split a
    transcript the same way but may keep different spacing around a sentence."""
    return " ".join(text.split())


def known_sentences(texts: Sequence[str], vectors: np.ndarray) -> dict[str, np.ndarray]:
    """Sentence vectors already computed (the segmenter's, one row per text), by
    :func:`sentence_key`, so storing a passage embeds only the sentences not among them."""
    if len(texts) != len(vectors):
        raise ValueError(f"{len(vectors)} sentence vectors for {len(texts)} sentences.")
    rows = np.asarray(vectors, dtype=np.float32)
    return {sentence_key(t): v for t, v in zip(texts, rows, strict=True)}


def unknown_sentences(flat: Sequence[str], known: Mapping[str, np.ndarray]) -> list[str]:
    """The distinct sentences of ``flat`` that ``known`` has no vector for, in order."""
    keys = dict.fromkeys(sentence_key(t) for t in flat)
    return [k for k in keys if k not in known]


def sentence_matrix(
    flat: Sequence[str], known: Mapping[str, np.ndarray], dimension: int
) -> np.ndarray:
    """One row per sentence of ``flat`` from ``known`` (which must hold every one)."""
    if not flat:
        return np.zeros((0, dimension), dtype=np.float32)
    return np.stack([known[sentence_key(t)] for t in flat]).astype(np.float32, copy=False)


def by_passage(matrix: np.ndarray, counts: Sequence[int]) -> list[np.ndarray]:
    """Rows of ``matrix`` regrouped per passage (``counts`` from :func:`passage_sentences`)."""
    if len(matrix) != sum(counts):
        raise ValueError(f"{len(matrix)} sentence vectors for {sum(counts)} sentences.")
    bounds = np.cumsum([0, *counts])
    return [matrix[a:b] for a, b in itertools.pairwise(bounds)]
