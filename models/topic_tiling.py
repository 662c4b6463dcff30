"""Where a transcript's topic changes: TextTiling depth scores over sentence embeddings.

A listener sent to "the minutes about varroa mites" should hear those minutes, not a fixed
two-minute window around them. Between every two sentences we compare what was said just
before with what is said just after (the mean sentence vector of each side, about
``window`` long), and score how deep that similarity dips below the nearest peaks on either
side (Hearst's TextTiling depth score): a topic shift is a deep valley, not merely a low
value, so a uniformly loose conversation is not cut everywhere. Long pauses and publisher
chapter starts add to a gap's score. The cuts are then chosen together by dynamic programming:
every passage between ``shortest`` and ``longest``, the sum of the chosen gaps' scores above
``threshold`` as large as possible, so where the ceiling forces a cut inside one topic it
falls in that topic's weakest spot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# A passage shorter than the floor costs this much per missing share of the floor: enough that
# only an episode (or a stretch between forced cuts) too short to split any other way has one.
_SHORT_PENALTY = 10.0


@dataclass(frozen=True)
class TilingParams:
    """``window``, ``shortest``, ``longest`` and ``pause`` are in the caller's measure
    (seconds, or characters for an untimed transcript)."""

    window: float
    shortest: float
    longest: float
    threshold: float = 0.3  # depth a gap needs to be worth a cut of its own (dev set)
    pause: float = 1.5  # a silence this long (seconds) is a hint
    pause_weight: float = 0.08
    chapter_weight: float = 0.5


def block_similarities(
    vectors: npt.NDArray[np.float32], sizes: Sequence[float], window: float
) -> npt.NDArray[np.float64]:
    """Cosine between the mean vectors of the ``window`` before and after each gap (``n - 1``
    gaps for ``n`` units); each unit weighs its size, so a "Right." counts for little."""
    count = len(sizes)
    weights = np.asarray(sizes, dtype=np.float64)
    matrix = np.asarray(vectors, dtype=np.float64) * weights[:, None]
    sims = np.zeros(max(count - 1, 0))
    for gap in range(count - 1):
        left = _reach(weights, gap, -1, window)
        right = _reach(weights, gap + 1, 1, window)
        a = matrix[left : gap + 1].sum(axis=0)
        b = matrix[gap + 1 : right + 1].sum(axis=0)
        norm = float(np.linalg.norm(a) * np.linalg.norm(b))
        sims[gap] = float(a @ b) / norm if norm > 0 else 1.0
    return sims


def depth_scores(similarities: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """TextTiling depth: how far each gap's similarity lies below the highest point reached
    climbing uphill to its left plus the same to its right. Unsmoothed: a spoken sentence runs
    5-15 s and the windows already average, so smoothing moved cuts a sentence off the shift
    (on the topic-shift dev set it halved the shifts found within 3 s)."""
    sims = similarities
    depths = np.zeros(len(sims))
    for gap, value in enumerate(sims):
        left = value
        for other in sims[gap - 1 :: -1] if gap else ():
            if other < left:
                break
            left = other
        right = value
        for other in sims[gap + 1 :]:
            if other < right:
                break
            right = other
        depths[gap] = (left - value) + (right - value)
    return depths


def choose_cuts(
    starts: Sequence[float],
    ends: Sequence[float],
    sizes: Sequence[float],
    scores: Sequence[float],
    params: TilingParams,
    *,
    forced: Sequence[bool] = (),
) -> list[int]:
    """The gaps to cut at (gap ``i`` lies after unit ``i``) maximising the chosen gaps' scores
    over ``params.threshold``, every passage at most ``longest`` (one unit may be longer)
    and, at a cost, at least ``shortest``; a ``forced`` gap is always cut."""
    count = len(sizes)
    if count == 0:
        return []
    timed = any(e > 0 for e in ends)

    def measure(first: int, last: int) -> float:  # units first..last inclusive
        if timed:
            return ends[last] - starts[first]
        return float(sum(sizes[first : last + 1]) + (last - first))

    must = {i for i, f in enumerate(forced) if f}
    best = np.full(count + 1, -np.inf)
    back = np.zeros(count + 1, dtype=np.int64)
    best[0] = 0.0
    for stop in range(1, count + 1):  # a passage of units [start, stop)
        gain = scores[stop - 1] - params.threshold if stop < count else 0.0
        for start in range(stop - 1, -1, -1):
            if start < stop - 1 and start in must:
                break  # a forced gap inside the passage: it and every longer one are out
            length = measure(start, stop - 1)
            if length > params.longest and start < stop - 1:
                break
            if best[start] == -np.inf:
                continue
            short = max(0.0, params.shortest - length) / params.shortest
            value = best[start] + gain - _SHORT_PENALTY * short
            if value > best[stop]:
                best[stop] = value
                back[stop] = start
    cuts: list[int] = []
    at = count
    while at > 0:
        at = int(back[at])
        if at > 0:
            cuts.append(at - 1)
    return sorted(cuts)


def gap_scores(
    vectors: npt.NDArray[np.float32],
    starts: Sequence[float],
    ends: Sequence[float],
    sizes: Sequence[float],
    params: TilingParams,
    chapters: Sequence[float] = (),
) -> npt.NDArray[np.float64]:
    """Depth score plus the pause and chapter hints, per gap."""
    count = len(sizes)
    timed = any(e > 0 for e in ends)
    measure = [e - s for s, e in zip(starts, ends, strict=True)] if timed else list(sizes)
    scores = depth_scores(block_similarities(vectors, measure, params.window))
    for gap in range(count - 1):
        silence = starts[gap + 1] - ends[gap]
        if timed and silence >= params.pause:
            scores[gap] += params.pause_weight * min(silence / params.pause, 2.0)
    if timed and count > 1:
        bounds = np.asarray([starts[g + 1] for g in range(count - 1)])
        for chapter in chapters:
            nearest = int(np.argmin(np.abs(bounds - chapter)))
            if chapter > starts[0] and abs(bounds[nearest] - chapter) <= params.window / 2:
                scores[nearest] += params.chapter_weight
    return scores


def _reach(weights: npt.NDArray[np.float64], begin: int, step: int, window: float) -> int:
    """The last index walking from ``begin`` by ``step`` until ``window`` is covered."""
    total, at = 0.0, begin
    while 0 <= at < len(weights):
        total += weights[at]
        if total >= window or not 0 <= at + step < len(weights):
            return at
        at += step
    return begin
