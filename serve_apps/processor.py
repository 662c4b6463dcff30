"""Episode processing as a deployment: each replica runs a worker loop on the job queue.

Models are reached through the other deployments' handles (Whisper chunks fan out over the
transcriber replicas, passages are batched by the embedder) and the LLM through the LLM
application's handle (``llm_app``: that app has no HTTP route), or without one over HTTP at
the settings' OpenAI-compatible endpoint. Scaling the processor scales how many episodes run
at once; a replica that dies leaves its jobs to be reclaimed when their leases expire, and one
that is scaled in hands them back unspent.

Serve scales on requests, and the processor gets almost none: with ``autoscaling`` each replica
reports the queue's runnable jobs (``record_autoscaling_stats``) and
:class:`serve_apps.autoscaling.QueueDepthPolicy` turns them into a replica count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from ray import serve
from ray.serve.handle import DeploymentHandle

from models.settings import EmbedderSettings
from models.summarizer.backends import ChatBackend, OpenAIChat
from models.summarizer.summarizer import Summarizer
from models.types import Embeddings, RetrievalSegment, Summary, Transcript
from raykit.metrics import install as install_metrics
from serve_apps.autoscaling import RUNNABLE_JOBS
from serve_apps.handles import DeploymentTextEmbedder
from serve_apps.llm_client import HandleChat
from tellmemore.logs import configure_logging
from tellmemore.processing import Counter, Models
from tellmemore.processing.jobs import PROCESS_EPISODE
from tellmemore.settings import Settings
from tellmemore.storage.jobs import Backlog
from tellmemore.wiring import open_processing

log = logging.getLogger(__name__)
PROCESSOR = "Processor"


# Shutdown waits for running episodes to reach a checkpoint (see __del__), beyond the 20 s default.
@serve.deployment(name=PROCESSOR, graceful_shutdown_timeout_s=60)
class Processor:
    async def __init__(  # type: ignore[misc]  # Serve awaits async constructors
        self,
        settings: Settings,
        transcriber: DeploymentHandle[Any],
        embedder: DeploymentHandle[Any],
        *,
        llm_app: str | None = None,
    ) -> None:
        configure_logging(settings)
        install_metrics()
        self._settings = settings
        # Audio goes through Ray's object store, not by value: with Serve's throughput-optimized
        # mode (production's and the local stack's) handle calls travel over gRPC, whose replica
        # servers refuse messages over 4 MiB, and a minute of 16 kHz float32 audio is 3.8 MiB
        # (a 300 s chunk 19 MiB). The object store takes any size and copies nothing on a node.
        self._transcriber = transcriber.options(_by_reference=True)
        self._embedder = embedder
        llm = settings.models.llm
        backend: ChatBackend = (
            HandleChat(llm_app, llm, loop=asyncio.get_running_loop(), concurrency=4)
            if llm_app is not None
            else OpenAIChat(llm, concurrency=4)
        )
        self._summarizer = Summarizer(backend, max_output_tokens=llm.max_output_tokens)
        models = Models(transcribe=self._transcribe, summarize=self._summarize, embed=self._embed)
        self._stack = contextlib.AsyncExitStack()
        processing = await self._stack.enter_async_context(
            open_processing(settings, models, DeploymentTextEmbedder(embedder))
        )
        self._worker = processing.worker
        self._upkeep = processing.upkeep
        self._queue = processing.queue
        self._loop: asyncio.Task[None] | None = None
        self._upkeep_loop: asyncio.Task[None] | None = None
        if settings.processing.worker_enabled:
            self._loop = asyncio.create_task(self._worker.run())
            self._upkeep_loop = asyncio.create_task(self._upkeep.run())
        self._backlog: Backlog | None = None
        self._metrics_loop = asyncio.create_task(self._publish_queue_metrics())

    async def _publish_queue_metrics(self) -> None:
        """Queue depth and dead letters as gauges, and the runnable jobs autoscaling reads,
        every ``processing.metrics_interval_s`` (each replica publishes the same table-wide
        figures; dashboards and the policy take the max)."""
        while True:
            try:
                await self._queue.publish_depth()
                self._backlog = await self._queue.backlog(PROCESS_EPISODE)
            except Exception:
                log.warning("could not read the job queue's depth", exc_info=True)
            await asyncio.sleep(self._settings.processing.metrics_interval_s)

    async def record_autoscaling_stats(self) -> dict[str, float]:
        """Serve's custom autoscaling metric: the queue's runnable jobs as last read (nothing
        until the first read, so a starting replica does not report an empty queue)."""
        if self._backlog is None:
            return {}
        return {RUNNABLE_JOBS: float(self._backlog.runnable)}

    async def _transcribe(self, samples: npt.NDArray[np.float32], offset_s: float) -> Transcript:
        result: Transcript = await self._transcriber.transcribe.remote(samples, offset_s)
        return result

    async def _embed(
        self, texts: Sequence[str], space: EmbedderSettings | None = None
    ) -> Embeddings:
        result: Embeddings = await self._embedder.embed_passages.remote(list(texts), space)
        return result

    async def _summarize(
        self,
        segments: Sequence[RetrievalSegment],
        title: str | None,
        progress: Counter | None = None,
    ) -> Summary:
        return await asyncio.to_thread(
            self._summarizer.summarize, segments, title=title, progress=progress
        )

    def check_health(self) -> None:
        """Serve restarts a replica whose worker loop died."""
        if self._loop is not None and self._loop.done():
            raise RuntimeError("the episode worker loop stopped")

    def stats(self) -> dict[str, Any]:
        return {
            "worker": self._worker.name,
            "processed": self._worker.processed,
            "failed": self._worker.failed,
            "runnable_jobs": None if self._backlog is None else self._backlog.runnable,
        }

    async def maintain_indexes(self) -> list[dict[str, Any]]:
        """Index maintenance now (``tmm index optimize`` on a cluster calls this)."""
        return [vars(r) for r in await self._upkeep.maintain_indexes()]

    async def drain(self, timeout_s: float = 8.0) -> dict[str, Any]:
        """Stop taking episodes and hand back the running ones without spending an attempt
        (the local runner calls this before it stops the cluster, so the next start picks
        them up at once rather than when their leases expire)."""
        self._worker.stop()
        self._upkeep.stop()
        if self._loop is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._loop), timeout_s)
        return {"worker": self._worker.name, "stopped": self._loop is None or self._loop.done()}

    async def __del__(self) -> None:
        self._worker.stop()
        self._upkeep.stop()
        self._metrics_loop.cancel()
        for task in (self._loop, self._upkeep_loop):
            if task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 30)
        await self._stack.aclose()
