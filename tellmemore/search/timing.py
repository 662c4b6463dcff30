"""Where one search request's time goes, measured where it is spent and sent back to the client.

A request opens a :class:`StageTimes` (``start``); every layer it passes through — the route,
the service, the engine, the embedder's adapter — adds the stages it ran (``stage`` or
``record``) to whichever one is current. A context variable carries it, so worker threads
(``asyncio.to_thread`` copies the context) and tasks started for the request add to the same
one without it being threaded through every signature. The API sends it as a ``Server-Timing``
header (W3C), which browsers' developer tools show and ``bench/search_http.py`` reads: figures
from the server itself, not guessed from the outside.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass
class StageTimes:
    """Seconds per named stage (a stage run twice adds up), in the order first seen."""

    started: float = field(default_factory=time.perf_counter)
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        if not _NAME.match(name):
            raise ValueError(f"A stage name is lower-case letters, digits and _: {name!r}")
        self.seconds[name] = self.seconds.get(name, 0.0) + max(seconds, 0.0)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def header(self, *, total: str | None = "app") -> str:
        """The stages as a ``Server-Timing`` value (milliseconds), with ``total`` (the time
        since ``start``) last when named."""
        parts = [f"{name};dur={s * 1000:.2f}" for name, s in self.seconds.items()]
        if total is not None:
            parts.append(f"{total};dur={self.elapsed() * 1000:.2f}")
        return ", ".join(parts)


_CURRENT: ContextVar[StageTimes | None] = ContextVar("tmm_stage_times", default=None)


def start() -> StageTimes:
    """A fresh record for the current request (and what it starts from here on)."""
    times = StageTimes()
    _CURRENT.set(times)
    return times


def current() -> StageTimes | None:
    return _CURRENT.get()


def record(name: str, seconds: float) -> None:
    """Add ``seconds`` to stage ``name`` of the current request, if one is being timed."""
    times = _CURRENT.get()
    if times is not None:
        times.add(name, seconds)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block as stage ``name`` of the current request (nothing when none is timed)."""
    began = time.perf_counter()
    try:
        yield
    finally:
        record(name, time.perf_counter() - began)


def parse_header(value: str) -> dict[str, float]:
    """A ``Server-Timing`` value back into milliseconds per name (for benches and tests)."""
    out: dict[str, float] = {}
    for part in value.split(","):
        name, _, params = part.strip().partition(";")
        for param in params.split(";"):
            key, _, number = param.strip().partition("=")
            if key == "dur" and name:
                out[name] = out.get(name, 0.0) + float(number)
    return out
