"""Speech to text with faster-whisper: word timings, language, VAD, and chunked long audio.

One :class:`WhisperTranscriber` loads its model once (in a Serve replica, a Ray Data actor or a
notebook) and transcribes arrays or files. Chunked transcription cuts the audio at pauses,
transcribes each chunk with its offset, and stitches the segments back in time order — the
same code path the Serve app and the pipelines fan out across replicas.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from faster_whisper import BatchedInferencePipeline, WhisperModel

from models import audio
from models.artifacts import ModelArtifacts, local_model
from models.errors import ModelError
from models.registry import model_ref, whisper_path
from models.settings import WhisperSettings
from models.types import ModelRef, Transcript, TranscriptSegment, Word


class WhisperTranscriber:
    def __init__(
        self,
        settings: WhisperSettings,
        models_dir: Path,
        *,
        artifacts: ModelArtifacts | None = None,
    ) -> None:
        """``artifacts`` fetches the model when ``settings.model`` is an artifact URI."""
        self._settings = settings
        path = whisper_path(local_model(settings.model, artifacts), models_dir)
        self._model = WhisperModel(
            path,
            device=settings.device,
            compute_type=settings.compute_type,
            cpu_threads=settings.cpu_threads,
            local_files_only=True,
        )
        self._batched = BatchedInferencePipeline(self._model) if settings.batch_size > 1 else None
        self.model: ModelRef = model_ref("asr", f"whisper-{settings.model}", path)

    def transcribe_samples(
        self, samples: audio.Samples, *, offset_s: float = 0.0, language: str | None = None
    ) -> Transcript:
        """Transcribe 16 kHz mono samples; times are shifted by ``offset_s``."""
        options: dict[str, Any] = {
            "language": language,
            "beam_size": self._settings.beam_size,
            "word_timestamps": True,
            "vad_filter": self._settings.vad,
        }
        if self._settings.vad:
            options["vad_parameters"] = {"speech_pad_ms": self._settings.vad_speech_pad_ms}
        try:
            if self._batched is not None:
                raw, info = self._batched.transcribe(
                    samples, batch_size=self._settings.batch_size, **options
                )
            else:
                raw, info = self._model.transcribe(
                    samples, condition_on_previous_text=False, **options
                )
            segments = tuple(_segment(s, offset_s) for s in raw)
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"Whisper failed: {exc}", code="asr_failed") from exc
        return Transcript(
            segments=tuple(s for s in segments if s.text),
            language=info.language,
            duration_s=offset_s + len(samples) / audio.SAMPLE_RATE,
            model=self.model,
        )

    def transcribe_file(self, path: Path, *, language: str | None = None) -> Transcript:
        """Transcribe a whole file, cutting it at pauses into chunks when it is long."""
        chunks = audio.chunks_at_silences(
            path,
            max_chunk_s=self._settings.chunk_max_s,
            min_chunk_s=self._settings.chunk_min_s,
            allow_video=False,
        )
        parts = [self.transcribe_samples(c.samples, offset_s=c.start_s, language=language)
                 for c in chunks]  # fmt: skip
        return stitch(parts)


def stitch(parts: Iterable[Transcript]) -> Transcript:
    """One transcript from chunk transcripts (each already offset), in time order."""
    ordered = sorted(parts, key=lambda t: t.segments[0].start_s if t.segments else t.duration_s)
    if not ordered:
        raise ModelError("Nothing to stitch: no chunk was transcribed.", code="asr_failed")
    segments = tuple(s for part in ordered for s in part.segments)
    languages = [p.language for p in ordered if p.language]
    return Transcript(
        segments=tuple(sorted(segments, key=lambda s: (s.start_s, s.end_s))),
        language=max(set(languages), key=languages.count) if languages else None,
        duration_s=max(p.duration_s for p in ordered),
        model=ordered[0].model,
    )


def _segment(raw: Any, offset_s: float) -> TranscriptSegment:
    words = tuple(
        Word(
            start_s=round(offset_s + w.start, 3),
            end_s=round(offset_s + w.end, 3),
            text=w.word.strip(),
            probability=round(float(w.probability), 4),
        )
        for w in (raw.words or [])
        if w.word.strip()
    )
    return TranscriptSegment(
        start_s=round(offset_s + raw.start, 3),
        end_s=round(offset_s + raw.end, 3),
        text=raw.text.strip(),
        words=words,
    )
