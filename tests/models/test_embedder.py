"""all-MiniLM-L6-v2, offline: dimension, normalisation, and ranking the right passage first."""

from __future__ import annotations

import numpy as np

from models.embedder import Embedder

PASSAGES = [
    "The patent fight over CRISPR gene editing pits the Broad Institute against Berkeley.",
    "Lithium-ion cells lose capacity faster when they are charged quickly in hot weather.",
    "Cold, salty water sinks near the poles and drives a slow conveyor belt of ocean currents.",
    "The central bank raised interest rates to bring inflation back toward its target.",
    "Sourdough bread rises because wild yeast and bacteria ferment the dough overnight.",
]
QUERIES = {
    "who owns the rights to gene editing": 0,
    "why does my phone battery wear out": 1,
    "thermohaline circulation": 2,
    "monetary policy and rising prices": 3,
    "how to bake bread with a starter": 4,
}


def test_ranks_the_right_passage_first(embedder: Embedder) -> None:
    passages = embedder.embed_passages(PASSAGES)
    queries = embedder.embed_queries(list(QUERIES))
    best = (queries.vectors @ passages.vectors.T).argmax(axis=1)
    assert best.tolist() == list(QUERIES.values())


def test_vectors_are_normalised_and_described(embedder: Embedder) -> None:
    out = embedder.embed_passages(PASSAGES[:2])
    assert out.dimension == embedder.dimension == 384
    assert out.vectors.shape == (2, 384)
    assert out.vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(out.vectors, axis=1), 1.0, atol=1e-5)
    assert out.model.id.startswith("embedding:all-MiniLM-L6-v2@")
    assert embedder.embed_queries([]).vectors.shape == (0, 384)


def test_batching_does_not_change_results(embedder: Embedder) -> None:
    one_by_one = np.vstack([embedder.embed_passages([p]).vectors for p in PASSAGES])
    batched = embedder.embed_passages(PASSAGES).vectors
    assert np.allclose(one_by_one, batched, atol=1e-5)
