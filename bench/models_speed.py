"""How fast the models run on this machine: Whisper realtime factor and embedding throughput.

    .venv/bin/python -m bench.models_speed [--whisper tiny.en] [--seconds 120]

Transcribes a synthetic "episode" built from Debian's pocketsphinx-testdata read speech (repeated
to the requested length, with pauses) through the same chunked path the app uses, then embeds
its retrieval passages and a batch of sentences. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from models import audio
from models.embedder import Embedder
from models.segmenter import segment_transcript
from models.settings import EmbedderSettings, WhisperSettings
from models.whisper import WhisperTranscriber
from tests.support.audio_files import encode, librivox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--whisper", default="tiny.en", help="tiny.en, base, or a folder")
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the test audio")
    parser.add_argument("--models-dir", type=Path, default=Path(".local/models"))
    args = parser.parse_args()

    pause = np.zeros(int(1.0 * audio.SAMPLE_RATE), dtype=np.float32)
    speech = np.concatenate([np.concatenate([audio.decode(w), pause]) for w, _ in librivox()])
    repeats = max(1, int(args.seconds // (len(speech) / audio.SAMPLE_RATE)))
    episode = np.tile(speech, repeats)
    seconds = len(episode) / audio.SAMPLE_RATE

    with tempfile.TemporaryDirectory() as tmp:
        path = encode(episode, Path(tmp) / "episode.mp3", "libmp3lame")
        started = time.perf_counter()
        transcriber = WhisperTranscriber(WhisperSettings(model=args.whisper), args.models_dir)
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        transcript = transcriber.transcribe_file(path)
        asr_s = time.perf_counter() - started

    embedder = Embedder(EmbedderSettings())
    passages = segment_transcript(transcript, "bench")
    sentences = [s.text for s in transcript.segments] * 4
    embedder.embed_passages(sentences[:8])  # warm-up
    started = time.perf_counter()
    embedder.embed_passages(sentences)
    embed_s = time.perf_counter() - started

    print(f"machine: {os.cpu_count()} cores")
    print(
        f"whisper {args.whisper}: load {load_s:.1f} s; {seconds:.0f} s of mp3 audio in "
        f"{asr_s:.1f} s = {seconds / asr_s:.1f}x realtime ({len(transcript.segments)} segments)"
    )
    words = sum(len(s.split()) for s in sentences) / max(len(sentences), 1)
    print(
        f"embeddings {embedder.model.name}: {len(sentences)} sentences (~{words:.0f} words) "
        f"in {embed_s:.2f} s = {len(sentences) / embed_s:.0f} sentences/s; "
        f"{len(passages)} retrieval passages"
    )


if __name__ == "__main__":
    main()
