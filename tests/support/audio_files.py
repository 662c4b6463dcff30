"""Real audio files for tests, written with PyAV (FFmpeg): the formats podcasts ship."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")


def librivox() -> list[tuple[Path, str]]:
    """(wav, transcript) pairs of real read speech from Debian's pocketsphinx-testdata."""
    texts = {}
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        text, _, file_id = line.rpartition("(")
        texts[file_id.strip(" )")] = text.replace("<s>", "").replace("</s>", "").strip()
    return [(wav, texts[wav.stem]) for wav in sorted(LIBRIVOX.glob("*.wav"))]


def encode(samples: npt.NDArray[np.float32], path: Path, codec: str, rate: int = 16_000) -> Path:
    """Write mono float samples with ``codec`` (pcm_s16le, libmp3lame, libopus, aac)."""
    out_rate = 48_000 if codec == "libopus" else rate
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=out_rate)
        assert isinstance(stream, av.AudioStream)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1).astype(np.float32), format="flt",
                                           layout="mono")  # fmt: skip
        frame.sample_rate = rate
        frame.time_base = Fraction(1, rate)
        frame.pts = 0
        resampler = av.AudioResampler(
            format=stream.codec_context.format.name, layout="mono", rate=out_rate
        )
        for resampled in resampler.resample(frame):
            for packet in stream.encode(resampled):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def video_only(path: Path, seconds: int = 1) -> Path:
    """A small MPEG-4 video with no sound, as a mistaken 'episode' enclosure might be."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(seconds * 10):
            image = np.full((48, 64, 3), i * 10 % 255, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def topic_script(minutes: float, words_per_minute: int = 170) -> str:
    """The labelled topic-shift transcripts (several real topics per episode), repeated as
    needed, long enough to read for ``minutes`` at ``words_per_minute``."""
    from tellmemore.research.topic_shifts import load_topic_shifts

    words = [
        word
        for half in ("test", "dev")
        for episode in load_topic_shifts(half).episodes
        for segment in episode.transcript.segments
        for word in segment.text.split()
    ]
    wanted = int(minutes * words_per_minute * 1.05)
    return " ".join(words[i % len(words)] for i in range(wanted))


def synthesized(text: str, path: Path, *, words_per_minute: int = 170) -> Path:
    """``text`` read by Debian's espeak-ng (as the demo episodes are), written as a 16 kHz
    mono MP3 at ``path``: long real speech without committing megabytes of audio."""
    from models import audio

    wav = path.with_suffix(".espeak.wav")
    script = path.with_suffix(".txt")
    script.write_text(text)
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", str(words_per_minute),  # noqa: S607
                    "-f", str(script), "-w", str(wav)], check=True)  # fmt: skip
    samples = audio.decode(wav)
    wav.unlink()
    return encode(samples, path, "libmp3lame")
