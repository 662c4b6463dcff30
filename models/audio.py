"""Audio in, 16 kHz mono float32 out — streamed, so an hours-long episode is never in memory
at once.

PyAV (the FFmpeg bindings faster-whisper already depends on) decodes every common podcast
format: mp3, m4a/aac, ogg/opus, wav. :func:`chunks_at_silences` cuts long audio where the
speaker pauses, so chunks can be transcribed in parallel and stitched back by offset.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from models.errors import AudioError

SAMPLE_RATE = 16_000
Samples = npt.NDArray[np.float32]


@dataclass(frozen=True)
class AudioInfo:
    duration_s: float
    codec: str
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class AudioChunk:
    """A piece of an episode: ``samples`` at 16 kHz mono, starting ``start_s`` into it."""

    start_s: float
    samples: Samples

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def _open(path: Path, *, allow_video: bool) -> av.container.InputContainer:
    if not path.exists():
        raise AudioError(f"The audio file {path.name} does not exist.", code="audio_missing")
    if path.stat().st_size == 0:
        raise AudioError(f"The audio file {path.name} is empty.", code="audio_empty")
    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise AudioError(
            f"{path.name} is not audio that can be decoded ({exc}).", code="audio_corrupt"
        ) from exc
    if container.streams.video and not allow_video:
        container.close()
        raise AudioError(
            f"{path.name} is a video file; episodes are processed from audio enclosures.",
            code="audio_is_video",
        )
    if not container.streams.audio:
        container.close()
        raise AudioError(f"{path.name} has no audio stream.", code="audio_no_stream")
    return container


def probe(path: Path, *, allow_video: bool = False) -> AudioInfo:
    """What the file holds, without decoding it (duration from the container when known)."""
    container = _open(path, allow_video=allow_video)
    with container:
        stream = container.streams.audio[0]
        if container.duration is not None:
            duration = container.duration / av.time_base
        elif stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        else:
            duration = 0.0
        return AudioInfo(
            duration_s=duration,
            codec=stream.codec_context.name,
            sample_rate=stream.codec_context.sample_rate or 0,
            channels=stream.codec_context.channels or 0,
        )


def decode_blocks(
    path: Path, *, block_s: float = 30.0, allow_video: bool = False
) -> Iterator[Samples]:
    """Blocks of about ``block_s`` seconds of 16 kHz mono float32, in order."""
    container = _open(path, allow_video=allow_video)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    block = int(block_s * SAMPLE_RATE)
    pending: list[Samples] = []
    size = 0
    try:
        with container:
            stream = container.streams.audio[0]
            frames = container.decode(stream)
            while True:
                try:
                    frame = next(frames)
                except StopIteration:
                    break
                except av.error.FFmpegError as exc:
                    raise AudioError(
                        f"{path.name} is damaged: decoding stopped ({exc}).", code="audio_corrupt"
                    ) from exc
                for out in resampler.resample(frame):
                    data = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                    pending.append(data)
                    size += len(data)
                while size >= block:
                    joined = np.concatenate(pending)
                    yield joined[:block]
                    pending, size = [joined[block:]], len(joined) - block
            for out in resampler.resample(None):
                pending.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
    except av.error.FFmpegError as exc:
        raise AudioError(
            f"{path.name} could not be decoded ({exc}).", code="audio_corrupt"
        ) from exc
    rest = np.concatenate(pending) if pending else np.zeros(0, dtype=np.float32)
    if len(rest):
        yield rest


def decode(path: Path, *, allow_video: bool = False, min_duration_s: float = 0.1) -> Samples:
    """The whole file as one array (for short clips; long episodes use the streaming calls)."""
    blocks = list(decode_blocks(path, allow_video=allow_video))
    samples = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
    _check_length(path, len(samples), min_duration_s)
    return samples


def _check_length(path: Path, count: int, min_duration_s: float) -> None:
    if count < min_duration_s * SAMPLE_RATE:
        raise AudioError(
            f"{path.name} holds {count / SAMPLE_RATE:.2f} s of audio, too short to transcribe.",
            code="audio_too_short",
        )


def _frame_energy(samples: Samples, frame: int) -> npt.NDArray[np.float32]:
    usable = len(samples) - len(samples) % frame
    if usable == 0:
        return np.zeros(0, dtype=np.float32)
    frames = samples[:usable].reshape(-1, frame)
    energy: npt.NDArray[np.float32] = np.sqrt(np.mean(frames * frames, axis=1) + 1e-12).astype(
        np.float32
    )
    return energy


def _cut_point(window: Samples, min_samples: int, frame: int, silence_s: float) -> int:
    """Where to cut ``window``: the middle of the quietest stretch of ``silence_s`` after
    ``min_samples`` (or the end when it is all speech)."""
    energy = _frame_energy(window, frame)
    span = max(1, int(silence_s * SAMPLE_RATE / frame))
    if len(energy) <= span:
        return len(window)
    smoothed = np.convolve(energy, np.ones(span, dtype=np.float32) / span, mode="valid")
    first = min_samples // frame
    if first >= len(smoothed):
        return len(window)
    best = first + int(np.argmin(smoothed[first:]))
    return (best + span // 2) * frame


def chunks_at_silences(
    path: Path,
    *,
    max_chunk_s: float = 300.0,
    min_chunk_s: float = 60.0,
    silence_s: float = 0.5,
    allow_video: bool = False,
) -> Iterator[AudioChunk]:
    """Consecutive chunks of at most ``max_chunk_s``, each cut in the quietest half second
    after ``min_chunk_s``, so no word is split between chunks. Memory stays near one chunk."""
    if not 0 < min_chunk_s < max_chunk_s:
        raise ValueError("need 0 < min_chunk_s < max_chunk_s")
    frame = int(0.03 * SAMPLE_RATE)
    limit, minimum = int(max_chunk_s * SAMPLE_RATE), int(min_chunk_s * SAMPLE_RATE)
    buffer = np.zeros(0, dtype=np.float32)
    start = 0
    total = 0
    for block in decode_blocks(path, block_s=min(30.0, max_chunk_s), allow_video=allow_video):
        total += len(block)
        buffer = np.concatenate([buffer, block])
        while len(buffer) >= limit:
            cut = _cut_point(buffer[:limit], minimum, frame, silence_s)
            yield AudioChunk(start / SAMPLE_RATE, buffer[:cut].copy())
            start += cut
            buffer = buffer[cut:]
    _check_length(path, total, 0.1)
    if len(buffer):
        yield AudioChunk(start / SAMPLE_RATE, buffer)
