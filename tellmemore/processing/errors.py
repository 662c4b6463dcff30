"""Why one episode could not be processed, as a value the job queue can record."""

from __future__ import annotations

# No transcript came back within ``processing.transcribe_deadline_s`` (typically: no GPU
# capacity to place a transcriber replica). Retryable: capacity may appear later.
TRANSCRIBER_UNAVAILABLE = "transcriber_unavailable"


class ProcessingError(Exception):
    """A failed step: a stable ``code`` for machines, a ``message`` for people, and whether the
    cause looks transient (``retryable``). The queue retries either way; logs and dashboards
    use ``retryable`` to tell a flaky host from a gone file."""

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable

    def __repr__(self) -> str:
        return f"ProcessingError({self.code!r}, {self.message!r}, retryable={self.retryable})"
