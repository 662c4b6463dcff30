"""The real offline models behind the :class:`~tellmemore.processing.Models` port, loaded once
per test session, and a gate that decides only *when* a transcription may run.

Processing tests that need a condition a model cannot be asked for (no transcriber capacity,
one chunk at a time) wrap the real models in :class:`Gated`: ``transcribe`` waits for a permit
the test hands out (or never does) and then runs the real Whisper; ``summarize`` and ``embed``
go straight to the real LLM and embedder. No answer is ever made up by the test.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from models.embedder import Embedders
from models.prepare import prepare_smollm2
from models.settings import EmbedderSettings, ModelSettings
from models.summarizer import Summarizer, VllmChat
from models.types import Embeddings, RetrievalSegment, Summary, Transcript
from models.whisper import WhisperTranscriber
from tellmemore.processing import Counter, Models

ROOT = Path(__file__).resolve().parent.parent.parent
MODELS_DIR = Path(os.environ.get("TMM_MODELS__DIR", ROOT / ".local" / "models"))


class LocalModels:
    """Whisper tiny.en, SmolLM2 on in-process vLLM and MiniLM: the packaged defaults, the same
    classes the Serve deployments and batch stages run. Each model runs one call at a time in a
    worker thread (as a Serve replica does), so the event loop keeps renewing leases."""

    def __init__(self, settings: ModelSettings, models_dir: Path) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        prepare_smollm2(models_dir)
        self._whisper = WhisperTranscriber(settings.whisper, models_dir)
        llm = settings.llm
        self._summarizer = Summarizer(
            VllmChat(llm, models_dir), max_output_tokens=llm.max_output_tokens
        )
        self._embedders = Embedders(settings.embedder)
        self._embedders.get()  # loaded now, not inside a test's first episode
        self._asr_lock = threading.Lock()
        self._llm_lock = threading.Lock()

    async def transcribe(self, samples: npt.NDArray[np.float32], offset_s: float) -> Transcript:
        def run() -> Transcript:
            with self._asr_lock:
                return self._whisper.transcribe_samples(samples, offset_s=offset_s)

        return await asyncio.to_thread(run)

    async def summarize(
        self,
        segments: Sequence[RetrievalSegment],
        title: str | None,
        progress: Counter | None = None,
    ) -> Summary:
        def run() -> Summary:
            with self._llm_lock:
                return self._summarizer.summarize(segments, title=title, progress=progress)

        return await asyncio.to_thread(run)

    async def embed(
        self, texts: Sequence[str], space: EmbedderSettings | None = None
    ) -> Embeddings:
        return await asyncio.to_thread(lambda: self._embedders.get(space).embed_passages(texts))


@dataclass
class _HeldCounter:
    """A step's counter whose ``add`` (called in the summarizing thread once the model has
    answered) waits for a permit first."""

    inner: Counter
    permits: threading.Semaphore

    def expect(self, total: int) -> None:
        self.inner.expect(total)

    def add(self, amount: float = 1.0) -> None:
        if not self.permits.acquire(timeout=600):
            raise TimeoutError("the test never released the summary's answers")
        self.inner.add(amount)


@functools.cache
def local_models() -> LocalModels:
    """One set per session, whichever test module asks first (vLLM takes a while to start)."""
    return LocalModels(ModelSettings(), MODELS_DIR)


@dataclass
class Gated:
    """The real models, with transcription held until the test releases it: each ``release``
    lets one waiting (or future) call through to the real Whisper. Never releasing is what a
    Serve handle does when no transcriber replica can be placed (no GPU in the cluster).

    With ``hold_embeddings`` each embedding call waits for ``release_embeddings`` the same
    way, and with ``hold_answers`` each batch of summary answers, once the real LLM has given
    it, waits for ``release_answers`` before it is counted: the test can read a step's progress
    between the model's calls."""

    models: LocalModels
    hold_embeddings: bool = False
    hold_answers: bool = False
    calls: int = 0
    cancelled: int = 0
    permits: asyncio.Queue[None] = field(default_factory=asyncio.Queue)
    embed_permits: asyncio.Queue[None] = field(default_factory=asyncio.Queue)
    answer_permits: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))

    def release(self, calls: int = 1) -> None:
        for _ in range(calls):
            self.permits.put_nowait(None)

    def release_embeddings(self, calls: int = 1) -> None:
        for _ in range(calls):
            self.embed_permits.put_nowait(None)

    def release_answers(self, batches: int = 1) -> None:
        self.answer_permits.release(batches)

    async def transcribe(self, samples: npt.NDArray[np.float32], offset_s: float) -> Transcript:
        self.calls += 1
        try:
            await self.permits.get()
        except asyncio.CancelledError:
            self.cancelled += 1  # withdrawn while it waited, as a handle's queued request is
            raise
        return await self.models.transcribe(samples, offset_s)

    async def summarize(
        self,
        segments: Sequence[RetrievalSegment],
        title: str | None,
        progress: Counter | None = None,
    ) -> Summary:
        if self.hold_answers and progress is not None:
            progress = _HeldCounter(progress, self.answer_permits)
        return await self.models.summarize(segments, title, progress)

    async def embed(
        self, texts: Sequence[str], space: EmbedderSettings | None = None
    ) -> Embeddings:
        if self.hold_embeddings:
            await self.embed_permits.get()
        return await self.models.embed(texts, space)

    def ports(self) -> Models:
        return Models(transcribe=self.transcribe, summarize=self.summarize, embed=self.embed)
