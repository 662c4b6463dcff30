"""Sentence embeddings as a deployment, batched across callers with ``@serve.batch``.

Every text is one batch item, so a search query from the API and a processor's passages share
batches. The batch size and wait are set from the builder's ``user_config`` and can be changed
at runtime (``serve deploy`` with a new ``user_config`` calls :meth:`reconfigure`; no restart).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from ray import serve

from core.settings import Settings
from models.embedder import Embedder
from models.types import Embeddings

Vector = npt.NDArray[np.float32]


@serve.deployment(name="Embedder")
class EmbedderDeployment:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings.models.embedder
        self._model = Embedder(settings.models.embedder)

    def reconfigure(self, config: dict[str, Any]) -> None:
        """Called with the deployment's ``user_config`` at start and on every change."""
        for batched in (cast(Any, self._passages), cast(Any, self._queries)):
            if "max_batch_size" in config:
                batched.set_max_batch_size(int(config["max_batch_size"]))
            if "batch_wait_timeout_s" in config:
                batched.set_batch_wait_timeout_s(float(config["batch_wait_timeout_s"]))

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.01)
    async def _passages(self, texts: list[str]) -> list[Vector]:
        result = await asyncio.to_thread(self._model.embed_passages, texts)
        return list(result.vectors)

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.01)
    async def _queries(self, texts: list[str]) -> list[Vector]:
        result = await asyncio.to_thread(self._model.embed_queries, texts)
        return list(result.vectors)

    async def embed_passages(self, texts: Sequence[str]) -> Embeddings:
        return self._pack(await asyncio.gather(*(self._passages(t) for t in texts)))

    async def embed_queries(self, texts: Sequence[str]) -> Embeddings:
        return self._pack(await asyncio.gather(*(self._queries(t) for t in texts)))

    def dimension(self) -> int:
        return self._model.dimension

    def batch_size(self) -> int:
        return int(cast(Any, self._passages)._get_max_batch_size())

    def _pack(self, rows: Sequence[Vector]) -> Embeddings:
        dim = self._model.dimension
        vectors = np.stack(rows).astype(np.float32) if rows else np.zeros((0, dim), np.float32)
        return Embeddings(vectors, dim, self._model.model)
