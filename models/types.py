"""What the models produce: typed, frozen dataclasses that record which model made them.

Every result carries a :class:`ModelRef` so that reprocessing can later find "everything made by
model X" and redo it. Times are seconds from the start of the episode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class ModelRef:
    """Which model (and which version of it) produced a result."""

    kind: Literal["asr", "publisher", "segmenter", "llm", "embedding"]
    name: str  # e.g. "whisper-tiny.en", "all-MiniLM-L6-v2", "publisher:vtt"
    version: str  # a content digest or package version: changes when outputs can change

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.name}@{self.version}"


@dataclass(frozen=True)
class Word:
    start_s: float
    end_s: float
    text: str
    probability: float | None = None


@dataclass(frozen=True)
class TranscriptSegment:
    """A stretch of speech as the recogniser (or the publisher's file) cut it."""

    start_s: float
    end_s: float
    text: str
    words: tuple[Word, ...] = ()
    speaker: str | None = None


@dataclass(frozen=True)
class Transcript:
    segments: tuple[TranscriptSegment, ...]
    language: str | None
    duration_s: float
    model: ModelRef

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())


@dataclass(frozen=True)
class RetrievalSegment:
    """A 45-120 s passage for search (about 1,000 characters when the transcript has no times);
    ``id`` is stable (episode id + index) so rewrites merge."""

    id: str
    episode_id: str
    index: int
    start_s: float
    end_s: float
    text: str
    model: ModelRef  # the segmenter (its version covers the rules that cut the passages)
    source: ModelRef  # the transcript it was cut from


@dataclass(frozen=True)
class Chapter:
    start_s: float
    end_s: float
    title: str


@dataclass(frozen=True)
class Summary:
    summary: str
    topics: tuple[str, ...]
    chapters: tuple[Chapter, ...]
    model: ModelRef


@dataclass(frozen=True)
class Embeddings:
    """Unit-length float32 vectors, one row per input text, in input order."""

    vectors: npt.NDArray[np.float32] = field(repr=False)
    dimension: int
    model: ModelRef
