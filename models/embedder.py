"""Sentence embeddings for search: queries and passages through one object, normalized, batched.

Vectors are unit length so a dot product is the cosine similarity LanceDB searches by. The
dimension is exposed for table schemas, and the model reference for "re-embed everything made
by model X".
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from models.artifacts import ModelArtifacts, local_model
from models.errors import ModelError
from models.onnx_queries import onnx_queries
from models.registry import embedder_path, model_ref
from models.settings import EmbedderSettings
from models.types import Embeddings, ModelRef


class Embedder:
    def __init__(
        self, settings: EmbedderSettings, *, artifacts: ModelArtifacts | None = None
    ) -> None:
        """``artifacts`` fetches the model when ``settings.model`` is an artifact URI."""
        # Never reach for a model hub at run time; packaged, prepared or fetched models only.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self._settings = settings
        path = embedder_path(local_model(settings.model, artifacts))
        if not Path(path).exists() and os.environ.get("HF_HUB_OFFLINE") == "1":
            raise ModelError(f"No embedding model at {path!r}.", code="model_unavailable")
        self._model = SentenceTransformer(path, device=settings.device)
        dimension = self._model.get_embedding_dimension()
        if dimension is None:
            raise ModelError("The embedding model does not say its dimension.")
        self.dimension: int = int(dimension)
        self.model: ModelRef = model_ref("embedding", settings.model, path)
        self._queries = (
            onnx_queries(self._model, path, settings.device)
            if settings.query_runtime == "onnx"
            else None
        )
        # What queries really run on: "onnx" can fall back to PyTorch (models/onnx_queries.py).
        self.query_runtime = "torch" if self._queries is None else "onnx"

    def embed_queries(self, texts: Sequence[str]) -> Embeddings:
        texts = [self._settings.query_prefix + t for t in texts]
        if self._queries is None or not texts:
            return self._encode(texts)
        return Embeddings(self._queries.encode(texts), self.dimension, self.model)

    def embed_passages(self, texts: Sequence[str]) -> Embeddings:
        return self._encode([self._settings.passage_prefix + t for t in texts])

    def _encode(self, texts: list[str]) -> Embeddings:
        if not texts:
            return Embeddings(np.zeros((0, self.dimension), dtype=np.float32), self.dimension,
                              self.model)  # fmt: skip
        vectors = self._model.encode(
            texts,
            batch_size=self._settings.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return Embeddings(np.asarray(vectors, dtype=np.float32), self.dimension, self.model)


class Embedders:
    """Loaded embedding models by space (model and prefixes), each loaded on first use: a
    process follows a switch-over to an index built in another space without a restart.
    ``settings`` gives the device and batch size, and the space used when none is named."""

    def __init__(
        self, settings: EmbedderSettings, *, artifacts: ModelArtifacts | None = None
    ) -> None:
        self._settings = settings
        self._artifacts = artifacts
        self._models: dict[tuple[str, str, str], Embedder] = {}
        self._lock = threading.Lock()

    def get(self, space: EmbedderSettings | None = None) -> Embedder:
        chosen = self._settings if space is None else space
        key = (chosen.model, chosen.query_prefix, chosen.passage_prefix)
        with self._lock:
            model = self._models.get(key)
            if model is None:
                model = Embedder(
                    self._settings.model_copy(
                        update={"model": key[0], "query_prefix": key[1], "passage_prefix": key[2]}
                    ),
                    artifacts=self._artifacts,
                )
                self._models[key] = model
            return model


class LocalTextEmbedder:
    """The in-process model behind search's ``TextEmbedder`` port (plain uvicorn, notebooks,
    benchmarks); the Serve app passes its embedder deployment instead.

    The model loads on first use, in a worker thread, so a server starts (and answers
    ``/health``) without waiting for it."""

    def __init__(
        self, settings: EmbedderSettings, *, artifacts: ModelArtifacts | None = None
    ) -> None:
        self._models = Embedders(settings, artifacts=artifacts)

    @property
    def model_id(self) -> str:
        return self._models.get().model.id

    async def embed_queries(
        self, texts: Sequence[str], space: EmbedderSettings | None = None
    ) -> npt.NDArray[np.float32]:
        return await asyncio.to_thread(lambda: self._models.get(space).embed_queries(texts).vectors)

    async def embed_passages(
        self, texts: Sequence[str], space: EmbedderSettings | None = None
    ) -> npt.NDArray[np.float32]:
        return await asyncio.to_thread(
            lambda: self._models.get(space).embed_passages(texts).vectors
        )
