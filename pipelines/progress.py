"""What a batch run shows while it runs: episodes and hours of audio done, the rate, and when
it will end.

:class:`RunMeter` is fed by the driver as the write stage's blocks come back (the same outcomes
the ledger records), so the figures count *episodes and audio*, our units. Ray Data's own bars
count blocks and rows per operator, and two sets of bars on one terminal overwrite each other:
the CLI turns Ray Data's off and shows this one. :func:`show_progress` draws a tqdm bar on a
terminal and, where stderr is a log (a Ray Job, CI), writes one plain line every
``interval_s`` and a last one when the run ends.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TextIO

from tqdm import tqdm

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """The run's figures at one moment."""

    episodes_total: int  # planned: sent through the stages (catch-up rounds add to it)
    episodes_done: int  # finished, failed ones included
    failed: int
    audio_known: int  # planned episodes whose length is known (feed or earlier processing)
    audio_s_total: float  # of those
    audio_s_done: float  # of the finished ones among them
    elapsed_s: float  # since the first episode was planned

    @property
    def audio_complete(self) -> bool:
        """Every planned episode's length is known: audio is then the better measure of the
        work left (one three-hour episode is not one two-minute episode)."""
        return self.episodes_total > 0 and self.audio_known == self.episodes_total


def eta_s(s: Snapshot) -> float | None:
    """Seconds left at the average rate so far: by audio when every length is known, else by
    episodes; None until something has finished."""
    if s.episodes_total and s.episodes_done >= s.episodes_total:
        return 0.0
    if s.elapsed_s <= 0:
        return None
    if s.audio_complete and s.audio_s_done > 0:
        return max(s.audio_s_total - s.audio_s_done, 0.0) * s.elapsed_s / s.audio_s_done
    if s.episodes_done > 0:
        return (s.episodes_total - s.episodes_done) * s.elapsed_s / s.episodes_done
    return None


def duration(seconds: float | None) -> str:
    """``45s``, ``12m05s``, ``3h04m``; ``?`` when not known."""
    if seconds is None or math.isnan(seconds) or math.isinf(seconds):
        return "?"
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def hours(seconds: float, *, scale: float) -> str:
    """Audio hours with the precision the run's size needs (two-minute episodes add up to
    hundredths of an hour)."""
    return f"{seconds / 3600:.2f}" if scale < 36_000 else f"{seconds / 3600:.1f}"


def details(s: Snapshot) -> str:
    """Everything but the episode count: failures, audio, rate, ETA, elapsed."""
    parts = []
    if s.failed:
        parts.append(f"{s.failed} failed")
    if s.audio_known:
        known = "" if s.audio_complete else f" (length known for {s.audio_known})"
        parts.append(f"audio {hours(s.audio_s_done, scale=s.audio_s_total)}/"
                     f"{hours(s.audio_s_total, scale=s.audio_s_total)} h{known}")  # fmt: skip
    if s.elapsed_s > 0 and s.episodes_done:
        rate = f"{s.episodes_done / s.elapsed_s * 60:.1f} episodes/min"
        if s.audio_s_done:
            rate += f", {s.audio_s_done / s.elapsed_s:.1f}x real time"
        parts.append(rate)
    parts.append(f"ETA {duration(eta_s(s))}")
    parts.append(f"elapsed {duration(s.elapsed_s)}")
    return " · ".join(parts)


def line(s: Snapshot) -> str:
    """One log line: ``7/12 episodes (58%) · audio 1.20/2.00 h · 3.1 episodes/min, ...``."""
    share = f" ({s.episodes_done / s.episodes_total:.0%})" if s.episodes_total else ""
    return f"{s.episodes_done}/{s.episodes_total} episodes{share} · {details(s)}"


class RunMeter:
    """Thread-safe counters the driver updates and a display reads."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._started: float | None = None
        self._total = self._done = self._failed = self._known = 0
        self._audio_total = self._audio_done = 0.0

    def planned(self, lengths_s: Iterable[float | None]) -> None:
        """Episodes sent through the stages, with their audio lengths (None: not known)."""
        with self._lock:
            if self._started is None:
                self._started = self._clock()
            for length in lengths_s:
                self._total += 1
                if length is not None:
                    self._known += 1
                    self._audio_total += length

    def finished(self, length_s: float | None, *, failed: bool) -> None:
        with self._lock:
            self._done += 1
            self._failed += failed
            if length_s is not None:
                self._audio_done += length_s

    def snapshot(self) -> Snapshot:
        with self._lock:
            elapsed = 0.0 if self._started is None else self._clock() - self._started
            return Snapshot(self._total, self._done, self._failed, self._known,
                            self._audio_total, self._audio_done, elapsed)  # fmt: skip


class _Bar:
    """The terminal's bar, redrawn every second so the clock moves between blocks."""

    def __init__(self, meter: RunMeter, out: TextIO) -> None:
        self._meter = meter
        self._bar = tqdm(total=0, file=out, dynamic_ncols=True)

    def draw(self) -> None:
        s = self._meter.snapshot()
        self._bar.total = s.episodes_total
        self._bar.n = s.episodes_done
        # Our own figures in the format (tqdm's postfix would start with a comma).
        self._bar.bar_format = ("batch run {percentage:3.0f}%|{bar}| {n}/{total} episodes · "
                                + details(s).replace("{", "{{").replace("}", "}}"))  # fmt: skip
        self._bar.refresh()

    def echo(self, text: str) -> None:
        self._bar.write(text, file=sys.stderr)

    def close(self) -> None:
        self.draw()
        self._bar.close()


@contextlib.contextmanager
def show_progress(
    meter: RunMeter, *, tty: bool, interval_s: float = 30.0, out: TextIO | None = None
) -> Iterator[Callable[[str], None]]:
    """Show ``meter`` while the block runs: a bar on a terminal, else a log line every
    ``interval_s`` and one at the end. Yields how to print a line without breaking the bar."""
    stop = threading.Event()
    bar = _Bar(meter, out or sys.stderr) if tty else None
    period = 1.0 if bar else interval_s

    def tick() -> None:
        while not stop.wait(period):
            if bar is not None:
                bar.draw()
            elif meter.snapshot().episodes_total:
                log.info("batch run progress: %s", line(meter.snapshot()))

    ticker = threading.Thread(target=tick, name="batch-progress", daemon=True)
    ticker.start()
    try:
        yield bar.echo if bar else lambda text: print(text, file=out or sys.stderr, flush=True)
    finally:
        stop.set()
        ticker.join()
        if bar is not None:
            bar.close()
        elif meter.snapshot().episodes_total:
            log.info("batch run progress: %s", line(meter.snapshot()))
