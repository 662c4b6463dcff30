"""Sentence embeddings as a deployment, batched across callers with ``@serve.batch``.

Every text is one batch item, so a search query from the API and a processor's passages share
batches. A call may name another embedding space (the active search index's, after a
re-embedding switch-over); its model is loaded on first use and batched separately. The batch
size and wait are set from the builder's ``user_config`` and can be changed at runtime
(``serve deploy`` with a new ``user_config`` calls :meth:`reconfigure`; no restart).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from ray import serve

from models.embedder import Embedders
from models.settings import EmbedderSettings
from models.types import Embeddings
from tellmemore.settings import Settings
from tellmemore.storage import model_artifacts

Vector = npt.NDArray[np.float32]


_Item = tuple[EmbedderSettings | None, str]
# A query and when it was queued (``time.perf_counter`` in this replica).
_Queued = tuple[EmbedderSettings | None, str, float]
# Its vector, how long it waited for its batch to start, the batch's model time and size.
_Timed = tuple[Vector, float, float, int]


@serve.deployment(name="Embedder")
class EmbedderDeployment:
    def __init__(self, settings: Settings) -> None:
        # Artifact URI settings (this space's, or another index's) are fetched into the node cache.
        self._models = Embedders(
            settings.models.embedder, artifacts=model_artifacts(settings.s3, settings.models)
        )
        self._model = self._models.get()  # the configured space, loaded at start

    def reconfigure(self, config: dict[str, Any]) -> None:
        """Called with the deployment's ``user_config`` at start and on every change.

        Queries wait ``query_batch_wait_timeout_s`` for company, not the passages' wait: a
        search is one short text with a listener waiting, and at 10 ms a lone query spent a
        fifth of its embedding time waiting for a batch that never came (issue 21)."""
        passages, queries = cast(Any, self._passages), cast(Any, self._queries)
        for batched in (passages, queries):
            if "max_batch_size" in config:
                batched.set_max_batch_size(int(config["max_batch_size"]))
        if "batch_wait_timeout_s" in config:
            passages.set_batch_wait_timeout_s(float(config["batch_wait_timeout_s"]))
        if "query_batch_wait_timeout_s" in config:
            queries.set_batch_wait_timeout_s(float(config["query_batch_wait_timeout_s"]))

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.01)
    async def _passages(self, items: list[_Item]) -> list[Vector]:
        return await asyncio.to_thread(self._encode, items, passages=True)

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.001)
    async def _queries(self, items: list[_Queued]) -> list[_Timed]:
        began = time.perf_counter()
        vectors = await asyncio.to_thread(
            self._encode, [(space, text) for space, text, _ in items], passages=False
        )
        took = time.perf_counter() - began
        return [(v, began - queued, took, len(items))
                for v, (_, _, queued) in zip(vectors, items, strict=True)]  # fmt: skip

    def _encode(self, items: list[_Item], *, passages: bool) -> list[Vector]:
        """One model call per embedding space in the batch (almost always just one)."""
        out: list[Vector | None] = [None] * len(items)
        groups: dict[tuple[str, str, str] | None, list[int]] = {}
        for i, (space, _) in enumerate(items):
            key = None if space is None else (space.model, space.query_prefix,
                                              space.passage_prefix)  # fmt: skip
            groups.setdefault(key, []).append(i)
        for positions in groups.values():
            model = self._models.get(items[positions[0]][0])
            texts = [items[i][1] for i in positions]
            result = model.embed_passages(texts) if passages else model.embed_queries(texts)
            for i, vector in zip(positions, result.vectors, strict=True):
                out[i] = vector
        return [v for v in out if v is not None]

    async def embed_passages(
        self, texts: Sequence[str], space: EmbedderSettings | None = None
    ) -> Embeddings:
        vectors = await asyncio.gather(*(self._passages((space, t)) for t in texts))
        return self._pack(vectors, space)

    async def embed_queries(
        self, texts: Sequence[str], space: EmbedderSettings | None = None
    ) -> Embeddings:
        embedded, _ = await self.embed_queries_timed(texts, space)
        return embedded

    async def embed_queries_timed(
        self, texts: Sequence[str], space: EmbedderSettings | None = None
    ) -> tuple[Embeddings, dict[str, float]]:
        """The query vectors and where their time went in this replica: ``batch_wait`` (queued
        until its ``@serve.batch`` started), ``model`` (the batch's encode) and ``batch_size``
        (items in that batch), the slowest of the texts'. Search reports them per request."""
        queued = time.perf_counter()
        timed = await asyncio.gather(*(self._queries((space, t, queued)) for t in texts))
        timing = {
            "batch_wait": max((t[1] for t in timed), default=0.0),
            "model": max((t[2] for t in timed), default=0.0),
            "batch_size": float(max((t[3] for t in timed), default=0)),
        }
        return self._pack([t[0] for t in timed], space), timing

    def dimension(self, space: EmbedderSettings | None = None) -> int:
        return self._models.get(space).dimension

    def model_id(self, space: EmbedderSettings | None = None) -> str:
        return self._models.get(space).model.id

    def batch_size(self) -> int:
        return int(cast(Any, self._passages)._get_max_batch_size())

    def _pack(self, rows: Sequence[Vector], space: EmbedderSettings | None) -> Embeddings:
        model = self._models.get(space)
        dim = model.dimension
        vectors = np.stack(rows).astype(np.float32) if rows else np.zeros((0, dim), np.float32)
        return Embeddings(vectors, dim, model.model)
