"""Adapters from deployment handles to the plain-Python ports other layers define."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ray.serve.handle import DeploymentHandle

from models.settings import EmbedderSettings
from models.types import Embeddings
from tellmemore.search import Vectors, timing


class DeploymentTextEmbedder:
    """Search's ``TextEmbedder`` port over the embedder deployment: a query shares batches
    with the processors' passages."""

    def __init__(self, handle: DeploymentHandle[Any]) -> None:
        self._handle = handle
        self._model_id = "unknown"

    @property
    def model_id(self) -> str:
        return self._model_id

    async def embed_queries(
        self, texts: Sequence[str], space: EmbedderSettings | None = None
    ) -> Vectors:
        """The query vectors; the request's stage times get the replica's batch wait and
        model time, and the handle's own share (routing, serialisation) as the rest."""
        began = time.perf_counter()
        result: Embeddings
        replica: dict[str, float]
        result, replica = await self._handle.embed_queries_timed.remote(list(texts), space)
        took = time.perf_counter() - began
        inside = replica["batch_wait"] + replica["model"]
        timing.record("embed_batch_wait", replica["batch_wait"])
        timing.record("embed_model", replica["model"])
        timing.record("embed_handle", took - inside)
        self._model_id = result.model.id
        return result.vectors

    async def embed_passages(
        self, texts: Sequence[str], space: EmbedderSettings | None = None
    ) -> Vectors:
        result: Embeddings = await self._handle.embed_passages.remote(list(texts), space)
        self._model_id = result.model.id
        return result.vectors
