"""Regenerate the demo podcast's audio, its episode 3 WebVTT transcript and the feed's sizes.

Each script in ``tellmemore/ops/demo/scripts.py`` is spoken sentence by sentence with Debian's
``espeak-ng``, resampled to 16 kHz mono and encoded as ~32 kbps MP3 with PyAV, so the committed
files stay small and the transcript's cue times are the sentences' real times. ``feed.xml`` gets
each enclosure's byte length and duration (keeping each item's duration notation, which the
feed parser's tests rely on being varied).

Only regenerating needs espeak-ng (``apt-get install espeak-ng``); the app and the tests read
the committed files. ``--check`` transcribes the result with the packaged Whisper model and
prints each file's word error rate against its script.

    .venv/bin/python scripts/make_demo_audio.py [--check]
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tellmemore.ops import DEMO_SCRIPTS, DemoScript  # noqa: E402

DEMO = ROOT / "tellmemore" / "ops" / "demo"
RATE = 16_000
BIT_RATE = 32_000
PAUSE_S = 0.25  # on top of the pause espeak-ng leaves after a sentence
TRANSCRIBED = ("tmm-demo-0003",)  # episodes whose feed item links a transcript

Pcm = npt.NDArray[np.int16]


@dataclass(frozen=True)
class Spoken:
    """An episode's 16 kHz mono samples and each sentence's (start, end) in seconds."""

    samples: Pcm
    cues: tuple[tuple[float, float, str], ...]

    @property
    def duration_s(self) -> float:
        return len(self.samples) / RATE


def speak(text: str, *, voice: str, speed: int) -> Pcm:
    """One sentence from espeak-ng, as 16 kHz mono 16-bit samples."""
    wav = subprocess.run(  # noqa: S603 - our own scripts' text, no shell
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],  # noqa: S607
        check=True,
        capture_output=True,
    ).stdout
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    parts: list[Pcm] = []
    with av.open(io.BytesIO(wav), mode="r") as container:
        for frame in container.decode(audio=0):
            parts.extend(_pcm(f) for f in resampler.resample(frame))
    parts.extend(_pcm(f) for f in resampler.resample(None))
    return np.concatenate(parts)


def _pcm(frame: av.AudioFrame) -> Pcm:
    return np.asarray(frame.to_ndarray(), dtype=np.int16).reshape(-1)


def speak_script(script: DemoScript, *, voice: str, speed: int) -> Spoken:
    pause = np.zeros(int(PAUSE_S * RATE), dtype=np.int16)
    pieces: list[Pcm] = []
    cues: list[tuple[float, float, str]] = []
    at = 0
    for sentence in script.sentences:
        samples = speak(sentence, voice=voice, speed=speed)
        voiced = np.flatnonzero(np.abs(samples.astype(np.int32)) > 300)
        first, last = (int(voiced[0]), int(voiced[-1])) if voiced.size else (0, len(samples))
        cues.append(((at + first) / RATE, (at + last + 1) / RATE, sentence))
        pieces += [samples, pause]
        at += len(samples) + len(pause)
    return Spoken(np.concatenate(pieces), tuple(cues))


def encode_mp3(samples: Pcm, path: Path, *, title: str) -> None:
    with av.open(str(path), mode="w", format="mp3") as container:
        container.metadata.update({"title": title, "artist": "Tell Me More"})
        stream = container.add_stream("libmp3lame", rate=RATE)
        stream.layout = "mono"
        stream.bit_rate = BIT_RATE
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _stamp(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def webvtt(spoken: Spoken) -> str:
    blocks = ["WEBVTT"]
    for number, (start, end, text) in enumerate(spoken.cues, 1):
        lines = "\n".join(textwrap.wrap(text, width=60))
        blocks.append(f"{number}\n{_stamp(start)} --> {_stamp(end)}\n{lines}")
    return "\n\n".join(blocks) + "\n"


def _duration_like(old: str, seconds: int) -> str:
    """``seconds`` in the same notation as ``old``: ``SS``, ``MM:SS`` or ``H:MM:SS``."""
    if ":" not in old:
        return str(seconds)
    if old.count(":") == 1:
        return f"{seconds // 60:0{len(old.split(':')[0])}d}:{seconds % 60:02d}"
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def update_feed(feed: str, guid: str, *, length: int, duration_s: int) -> str:
    """The feed with ``guid``'s enclosure length and itunes:duration set."""
    item = re.search(rf"<item>(?:(?!</item>).)*?<guid[^>]*>{guid}</guid>.*?</item>", feed, re.S)
    if item is None:
        raise SystemExit(f"feed.xml has no item with guid {guid}")
    old = item.group(0)
    new = re.sub(r'(<enclosure [^>]*length=")\d+(")', rf"\g<1>{length}\g<2>", old, count=1)
    new = re.sub(
        r"(<itunes:duration>)([^<]*)(</itunes:duration>)",
        lambda m: m.group(1) + _duration_like(m.group(2), duration_s) + m.group(3),
        new,
        count=1,
    )
    return feed.replace(old, new)


def check(paths: dict[str, Path]) -> None:
    """Transcribe each file with the configured Whisper model and print its word error rate."""
    from models.evaluation import word_error_rate
    from models.whisper import WhisperTranscriber
    from tellmemore.settings import Settings

    settings = Settings()
    transcriber = WhisperTranscriber(settings.models.whisper, settings.models.dir)
    for script in DEMO_SCRIPTS:
        heard = transcriber.transcribe_file(paths[script.guid], language="en")
        text = " ".join(s.text for s in heard.segments)
        wer = word_error_rate(script.text, text)
        print(f"{script.guid}: WER {wer:.1%} ({settings.models.whisper.model})\n  {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voice", default="en-us+m1", help="espeak-ng voice")
    parser.add_argument("--speed", type=int, default=150, help="words per minute")
    parser.add_argument("--check", action="store_true", help="transcribe and print the WERs")
    args = parser.parse_args()
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is missing: apt-get install espeak-ng")

    feed_path = DEMO / "feed.xml"
    feed = feed_path.read_text(encoding="utf-8")
    paths: dict[str, Path] = {}
    for script in DEMO_SCRIPTS:
        spoken = speak_script(script, voice=args.voice, speed=args.speed)
        path = DEMO / "audio" / f"{script.guid}.mp3"
        path.parent.mkdir(exist_ok=True)
        encode_mp3(spoken.samples, path, title=script.title)
        paths[script.guid] = path
        seconds = round(spoken.duration_s)
        feed = update_feed(feed, script.guid, length=path.stat().st_size, duration_s=seconds)
        if script.guid in TRANSCRIBED:
            vtt = DEMO / "transcripts" / f"{script.guid}.vtt"
            vtt.parent.mkdir(exist_ok=True)
            vtt.write_text(webvtt(spoken), encoding="utf-8")
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size} bytes, {spoken.duration_s:.1f} s")
    feed_path.write_text(feed, encoding="utf-8")
    if args.check:
        check(paths)


if __name__ == "__main__":
    main()
