"""all-MiniLM-L6-v2, offline: dimension, normalisation, and ranking the right passage first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.embedder import Embedder
from models.errors import ModelError
from models.onnx_queries import onnx_queries
from models.registry import embedder_path, folder_digest
from models.settings import EmbedderSettings

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


def test_queries_run_on_onnx_with_the_models_own_vectors(embedder: Embedder) -> None:
    """On a CPU, queries go through the ONNX export (models/onnx_queries.py): the vectors are
    PyTorch's, for short, long (truncated) and batched queries alike."""
    assert embedder.query_runtime == "onnx"
    torch_only = Embedder(EmbedderSettings(query_runtime="torch"))
    assert torch_only.query_runtime == "torch"
    texts = [*QUERIES, "x", "a long question " * 400, "émigré jazz in Paris, 1950?"]
    onnx_vectors = embedder.embed_queries(texts).vectors
    assert onnx_vectors.dtype == np.float32 and onnx_vectors.shape == (len(texts), 384)
    assert np.allclose(onnx_vectors, torch_only.embed_queries(texts).vectors, atol=1e-5)
    one_by_one = np.vstack([embedder.embed_queries([t]).vectors for t in texts])
    assert np.allclose(one_by_one, onnx_vectors, atol=1e-5)


def test_a_model_onnx_cannot_reproduce_keeps_pytorch(embedder: Embedder) -> None:
    """CLS pooling is not what the export computes: such a model's queries stay on PyTorch."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    transformer = embedder._model[0]
    cls_model = SentenceTransformer(modules=[transformer, Pooling(384, "cls")], device="cpu")
    assert onnx_queries(cls_model, "/nonexistent", "cpu") is None
    assert onnx_queries(embedder._model, "/nonexistent", "cuda") is None


def test_a_broken_export_is_refused_with_a_clear_error(
    embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A damaged export is never used: loading stops with what to do about it. The export
    lives in the cache, never in the model's folder, whose files are the model's id."""
    folder = embedder_path("all-MiniLM-L6-v2")
    before = folder_digest(folder)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert onnx_queries(embedder._model, folder, "cpu") is not None
    (export,) = (tmp_path / "tellmemore" / "onnx").glob("*/tmm-queries.onnx")
    assert folder_digest(folder) == before
    export.write_bytes(b"not an onnx graph")
    with pytest.raises(ModelError, match="delete it to export it again") as caught:
        onnx_queries(embedder._model, folder, "cpu")
    assert caught.value.code == "model_unavailable"
