"""Trim a tell-me-more item to the sentences about its topic.

A passage is cut where the topic changes as well as the segmenter can tell, but a passage
still often opens with the end of the previous subject or closes with the start of the next
one, and a listener asked for the minutes about *this* topic (issue 21: a third of the seconds
played were about something else). Every stored passage has a vector per sentence, so the
query's similarity to each sentence is one matrix product; the item keeps the run of
sentences from the first to the last one close enough to its best sentence (scores smoothed
over neighbours, since one sentence says little alone), never shorter than ``min_s`` while the
passage allows. Sentence times are interpolated by character share inside the passage (the
passage's own start and end are exact sentence bounds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tellmemore.search.highlight import sentences
from tellmemore.search.types import SegmentHit


@dataclass(frozen=True)
class TrimRules:
    """How far a sentence's (smoothed) similarity may fall under the item's best sentence
    and still be kept (a sentence at least ``keep_above`` is kept anyway); how many
    neighbours each side smooth a score; the shortest item.

    Chosen on the topic-shift set's dev half (``tellmemore.research.topic_eval``); sentence
    scores from all-MiniLM-L6-v2 are noisy (on-topic sentences at 0.05, off-topic ones at 0.4),
    so the rules trim only what is clearly off: dev time precision 0.690 -> 0.727 with
    section recall unchanged (0.765); on the test half 0.613 -> 0.653, recall 0.818 -> 0.795.
    Stricter rules cut more off-topic seconds and more sections below half coverage."""

    below_best: float = 0.12
    neighbours: int = 2
    min_s: float = 20.0
    keep_above: float = 0.25  # a sentence this similar is kept whatever the best


@dataclass(frozen=True)
class _Sentence:
    start_s: float
    end_s: float
    score: float


def trimmed_span(
    run: Sequence[SegmentHit], scores: Mapping[str, np.ndarray], rules: TrimRules
) -> tuple[float, float]:
    """``run`` (adjacent passages of one episode, in order) trimmed to its topic's sentences;
    the whole run when a passage has no sentence scores."""
    timed: list[_Sentence] = []
    for hit in run:
        passage = _timed(hit, scores.get(hit.segment_id))
        if passage is None:
            return run[0].start_s, run[-1].end_s
        timed += passage
    if not timed:
        return run[0].start_s, run[-1].end_s
    smooth = _smoothed(np.array([s.score for s in timed]), rules.neighbours)
    keep = np.flatnonzero(smooth >= min(smooth.max() - rules.below_best, rules.keep_above))
    first, last = int(keep[0]), int(keep[-1])
    # Too short: widen towards the closer-to-topic neighbour until long enough.
    while timed[last].end_s - timed[first].start_s < rules.min_s:
        before = smooth[first - 1] if first > 0 else -np.inf
        after = smooth[last + 1] if last + 1 < len(timed) else -np.inf
        if before == after == -np.inf:
            break
        if before >= after:
            first -= 1
        else:
            last += 1
    return timed[first].start_s, timed[last].end_s


def _timed(hit: SegmentHit, scores: np.ndarray | None) -> list[_Sentence] | None:
    """The passage's sentences with interpolated times and their scores; None when the
    scores do not match its sentences."""
    spans = sentences(hit.text)
    if scores is None or len(scores) != len(spans):
        return None
    length = max(len(hit.text), 1)
    duration = hit.end_s - hit.start_s
    starts = [0, *(s.start for s in spans[1:])]
    ends = [*(s.start for s in spans[1:]), length]
    return [
        _Sentence(
            hit.start_s + duration * a / length,
            hit.start_s + duration * b / length,
            float(score),
        )
        for a, b, score in zip(starts, ends, scores, strict=True)
    ]


def _smoothed(scores: np.ndarray, neighbours: int) -> np.ndarray:
    """Each score averaged with up to ``neighbours`` on each side (fewer at the ends)."""
    if neighbours <= 0 or len(scores) < 2:
        return scores
    padded = np.concatenate([[0.0] * neighbours, scores, [0.0] * neighbours])
    counts = np.concatenate([[0.0] * neighbours, np.ones_like(scores), [0.0] * neighbours])
    window = np.ones(2 * neighbours + 1)
    total = np.convolve(padded, window, mode="valid")
    count = np.convolve(counts, window, mode="valid")
    return np.asarray(total / count)
