"""ML models as plain Python: Whisper transcription, publisher transcripts, segmenting, LLM
summaries and sentence embeddings. No Ray imports: Serve deployments, Ray Data stages and
notebooks all wrap these same classes, which load their model once and return typed dataclasses
recording which model made them.

Heavy libraries (faster-whisper, torch, vLLM) are imported by the submodules that need them, so
importing this package is cheap.
"""

from models.errors import (
    AudioError,
    ModelError,
    ModelUnavailable,
    SummaryError,
    TranscriptFormatError,
)
from models.types import (
    Chapter,
    Embeddings,
    ModelRef,
    RetrievalSegment,
    Summary,
    Transcript,
    TranscriptSegment,
    Word,
)

__all__ = [
    "AudioError",
    "Chapter",
    "Embeddings",
    "ModelError",
    "ModelRef",
    "ModelUnavailable",
    "RetrievalSegment",
    "Summary",
    "SummaryError",
    "Transcript",
    "TranscriptFormatError",
    "TranscriptSegment",
    "Word",
]
