"""What processing needs from the models, as async callables.

The Serve app passes deployment handles behind these, a notebook or a test can pass in-process
models; processing never knows which.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from models.settings import EmbedderSettings
from models.types import Embeddings, RetrievalSegment, Summary, Transcript


class Transcribe(Protocol):
    async def __call__(self, samples: npt.NDArray[np.float32], offset_s: float) -> Transcript:
        """Transcribe one chunk of 16 kHz mono audio; times shifted by ``offset_s``."""
        ...


class Counter(Protocol):
    """A step's progress (:class:`tellmemore.processing.progress.StepProgress`), safe to call
    from the thread a model runs in."""

    def expect(self, total: int) -> None: ...

    def add(self, amount: float = 1.0) -> None: ...


class Summarize(Protocol):
    async def __call__(
        self,
        segments: Sequence[RetrievalSegment],
        title: str | None,
        progress: Counter | None = None,
    ) -> Summary:
        """Summary, topics and chapters; the model requests answered counted on ``progress``."""
        ...


class Embed(Protocol):
    async def __call__(
        self, texts: Sequence[str], space: EmbedderSettings | None = None
    ) -> Embeddings:
        """Passage embeddings in ``space`` (the active index's), one unit-length row per text."""
        ...


@dataclass(frozen=True)
class Models:
    transcribe: Transcribe
    summarize: Summarize
    embed: Embed
