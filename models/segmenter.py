"""Cut a transcript into 45-120 s retrieval passages made of whole sentences.

Search hits should start and end where a person would, so passages are cut only between
sentences; a sentence too long for one passage is split between words instead. Word timings
give exact sentence times; without them a sentence's time is interpolated from its segment's by
character share. Untimed transcripts (plain text and HTML, every segment at 0.0/0.0) are cut
by characters instead, with all times 0.0. The output depends on nothing but the input, so
passage ids (episode id + index) are stable and database rewrites merge.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from models.types import ModelRef, RetrievalSegment, Transcript

TARGET_CHARS = 1000
MAX_CHARS = 1600
MIN_CHARS = 600
_TAIL_SLACK = 1.25
_ABBREVIATIONS = frozenset(
    {"mr.", "mrs.", "ms.", "dr.", "prof.", "sr.", "jr.", "st.", "mt.", "vs.", "etc."}
    | {"e.g.", "i.e.", "u.s.", "u.k.", "inc.", "ltd."}
)
_CLOSERS = "\"')]\u201d\u2019"
_OPENERS = "\"'([\u201c\u2018"
_END = re.compile(rf"[.?!…]+[{re.escape(_CLOSERS)}]*\s+")


@dataclass(frozen=True)
class _Unit:
    """A sentence, or a run of words from a sentence too long for one passage.

    ``cut_before`` starts a new passage at a split sentence, so the passage before it still ends
    at a sentence end.
    """

    text: str
    start_s: float
    end_s: float
    cut_before: bool = False


@dataclass(frozen=True)
class _Piece:
    text: str
    start_s: float
    end_s: float
    speaker: str | None


def segmenter_model(
    *, min_s: float = 45.0, target_s: float = 75.0, max_s: float = 120.0
) -> ModelRef:
    """The segmenter's identity: its rules' version and bounds (outputs change with either)."""
    return ModelRef(
        kind="segmenter", name="sentence-window", version=f"1-{min_s:g}-{target_s:g}-{max_s:g}"
    )


def segment_transcript(
    transcript: Transcript,
    episode_id: str,
    *,
    min_s: float = 45.0,
    target_s: float = 75.0,
    max_s: float = 120.0,
) -> list[RetrievalSegment]:
    """Greedy passages of whole sentences, each reaching ``target_s`` and at most ``max_s``.

    A trailing passage shorter than ``min_s`` joins the one before while the join stays within
    ``max_s * 1.25``. A sentence longer than ``max_s`` is split between words.
    """
    if not 0 < min_s <= target_s <= max_s:
        raise ValueError("segmenter bounds must satisfy 0 < min_s <= target_s <= max_s")
    pieces = _pieces(transcript)
    timed = any(p.end_s > 0 for p in pieces)
    if timed:
        measure: Callable[[Sequence[_Unit]], float] = _duration
        limits = (min_s, target_s, max_s)
    else:
        measure = _length
        limits = (MIN_CHARS, TARGET_CHARS, MAX_CHARS)
    units: list[_Unit] = []
    for sentence, tokens in _sentences(pieces, cut_every_piece=not timed):
        if measure([sentence]) <= limits[2]:
            units.append(sentence)
        else:
            units.extend(_join(g) for g in _greedy(tokens, measure, limits[1], limits[2]))
    groups = _greedy(units, measure, limits[1], limits[2])
    merged = groups[-2] + groups[-1] if len(groups) > 1 else []
    if merged and measure(groups[-1]) < limits[0] and measure(merged) <= limits[2] * _TAIL_SLACK:
        groups[-2:] = [merged]
    model = segmenter_model(min_s=min_s, target_s=target_s, max_s=max_s)
    passages: list[RetrievalSegment] = []
    floor = 0.0
    for index, group in enumerate(groups):
        floor = max(floor, round(group[0].start_s, 3))
        passages.append(
            RetrievalSegment(
                id=f"{episode_id}:{index:05d}",
                episode_id=episode_id,
                index=index,
                start_s=floor,
                end_s=max(floor, round(group[-1].end_s, 3)),
                text=" ".join(u.text for u in group),
                model=model,
                source=transcript.model,
            )
        )
    return passages


def _duration(units: Sequence[_Unit]) -> float:
    return units[-1].end_s - units[0].start_s


def _length(units: Sequence[_Unit]) -> float:
    return sum(len(u.text) for u in units) + len(units) - 1


def _join(units: Sequence[_Unit]) -> _Unit:
    return _Unit(" ".join(u.text for u in units), units[0].start_s, units[-1].end_s, True)


def _greedy(
    units: Sequence[_Unit], measure: Callable[[Sequence[_Unit]], float], target: float, most: float
) -> list[list[_Unit]]:
    """Add units until a group reaches ``target``; start a new group rather than pass ``most``
    (or where a unit asks for a cut before it)."""
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    for unit in units:
        if current and (unit.cut_before or measure([*current, unit]) > most):
            groups.append(current)
            current = []
        current.append(unit)
        if measure(current) >= target:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def _pieces(transcript: Transcript) -> list[_Piece]:
    """Words where a segment has them, else whole segments; times made monotonic."""
    pieces: list[_Piece] = []
    floor = 0.0
    for segment in transcript.segments:
        spans = [(w.text, w.start_s, w.end_s) for w in segment.words] or [
            (segment.text, segment.start_s, segment.end_s)
        ]
        for text, start, end in spans:
            clean = " ".join(text.split())
            if clean:
                floor = max(start, floor)
                pieces.append(_Piece(clean, floor, max(end, floor), segment.speaker))
    return pieces


def _sentences(pieces: list[_Piece], *, cut_every_piece: bool) -> list[tuple[_Unit, list[_Unit]]]:
    """Sentences (and their words) over the joined text, timed by interpolating within pieces.

    A sentence ends at ``.?!…`` before a capital, digit or opening quote (not after a known
    abbreviation or a single initial), at the end of the text, where the speaker changes, and
    (for untimed paragraphs) at every piece's end.
    """
    joined = " ".join(p.text for p in pieces)
    offsets: list[int] = []
    at = 0
    for piece in pieces:
        offsets.append(at)
        at += len(piece.text) + 1
    cuts = {0, len(joined)} | {
        offsets[i]
        for i in range(1, len(pieces))
        if cut_every_piece or pieces[i].speaker != pieces[i - 1].speaker
    }
    cuts |= {m.end() for m in _END.finditer(joined) if _is_end(joined, m)}

    def time(pos: int, *, end: bool) -> float:
        index = bisect_right(offsets, pos - 1 if end else pos) - 1
        piece = pieces[index]
        share = (pos - offsets[index]) / len(piece.text)
        return piece.start_s + (piece.end_s - piece.start_s) * min(share, 1.0)

    def unit(start: int, stop: int) -> _Unit:
        return _Unit(joined[start:stop], time(start, end=False), time(stop, end=True))

    result = []
    bounds = sorted(cuts)
    for start, stop in pairwise(bounds):
        text = joined[start:stop]
        first = start + len(text) - len(text.lstrip())
        last = start + len(text.rstrip())
        if first < last:
            words = re.finditer(r"\S+", joined[first:last])
            result.append(
                (unit(first, last), [unit(first + m.start(), first + m.end()) for m in words])
            )
    return result


def _is_end(text: str, match: re.Match[str]) -> bool:
    following = text[match.end() : match.end() + 1]
    if not following or not (following.isupper() or following.isdigit() or following in _OPENERS):
        return False
    if match.group().rstrip() != ".":
        return True
    word = text[max(0, match.start() - 16) : match.start() + 1].split()[-1]
    word = word.lstrip(_OPENERS).lower()
    return word not in _ABBREVIATIONS and not re.fullmatch(r"[^\W\d_]\.", word)
