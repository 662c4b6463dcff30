"""Typed failures with sentences a person understands; callers record them per episode."""

from __future__ import annotations


class ModelError(Exception):
    """Base class: ``code`` is stable for machines, the message is for people."""

    code = "model_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


class AudioError(ModelError):
    """The audio cannot be used: corrupt, empty, no audio stream, zero length."""

    code = "audio_invalid"


class TranscriptFormatError(ModelError):
    """A publisher transcript in a format we do not read, or one that does not parse."""

    code = "transcript_format"


class SummaryError(ModelError):
    """The LLM did not give a usable summary (after one retry)."""

    code = "summary_invalid"


class ModelUnavailable(ModelError):
    """A model's files are not where the settings say (run ``tmm models prepare``)."""

    code = "model_unavailable"
