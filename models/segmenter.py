"""Cut a transcript into retrieval passages of whole sentences, where its topic changes.

A tell-me-more item plays a passage from its start to its end, so a passage should be about one
thing: given a vector per sentence (:func:`sentence_texts`, embedded by the caller in one
batch), passages are cut where the topic shifts (:mod:`models.topic_tiling`: TextTiling depth
over sentence embeddings, long pauses and publisher chapters as hints), each 20-120 s. Without
vectors they are cut by length alone, 45-120 s (the first version's rules).

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

import numpy as np

from models.topic_tiling import TilingParams, choose_cuts, gap_scores
from models.types import Embeddings, ModelRef, RetrievalSegment, Transcript

TARGET_CHARS = 1000
MAX_CHARS = 1600
MIN_CHARS = 600
TOPIC_MIN_S = 20.0  # a passage shorter than this says too little to be found or played alone
TOPIC_MIN_CHARS = 300  # about 20 s of speech, for untimed transcripts
TOPIC_WINDOW_S = 30.0  # how much speech each side of a gap is compared (dev set: 20-50 s)
TOPIC_WINDOW_CHARS = 450
SENTENCE_BATCH = 256  # sentences per embedding call: a 3-hour episode's are never one request
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
    *,
    min_s: float | None = None,
    target_s: float = 75.0,
    max_s: float = 120.0,
    embedding: ModelRef | None = None,
) -> ModelRef:
    """The segmenter's identity: its rules' version, bounds and (cutting by topic) the
    embedding model whose sentence vectors it compared: outputs change with any of them."""
    if embedding is None:
        low = 45.0 if min_s is None else min_s
        return ModelRef(kind="segmenter", name="sentence-window",
                        version=f"1-{low:g}-{target_s:g}-{max_s:g}")  # fmt: skip
    low = TOPIC_MIN_S if min_s is None else min_s
    return ModelRef(
        kind="segmenter",
        name="topic-tiling",
        version=f"2-{low:g}-{max_s:g}-{embedding.name}@{embedding.version[:12]}",
    )


def sentence_texts(transcript: Transcript) -> list[str]:
    """The sentences :func:`segment_transcript` compares, in order: embed them (one batch per
    episode) and pass the vectors as ``sentence_vectors``."""
    pieces = _pieces(transcript)
    timed = any(p.end_s > 0 for p in pieces)
    return [unit.text for unit, _ in _sentences(pieces, cut_every_piece=not timed)]


def sentence_batches(texts: Sequence[str]) -> list[list[str]]:
    """``texts`` in order, in calls of at most :data:`SENTENCE_BATCH`."""
    return [list(texts[i : i + SENTENCE_BATCH]) for i in range(0, len(texts), SENTENCE_BATCH)]


def join_embeddings(parts: Sequence[Embeddings]) -> Embeddings:
    """The batches' vectors as one :class:`Embeddings` (all from one model)."""
    if not parts:
        raise ValueError("No embeddings to join.")
    vectors = np.concatenate([np.asarray(p.vectors, dtype=np.float32) for p in parts])
    return Embeddings(vectors, parts[0].dimension, parts[0].model)


def embed_sentences(
    embed: Callable[[list[str]], Embeddings], transcript: Transcript
) -> Embeddings | None:
    """The transcript's sentence vectors from ``embed``, batched; None when it has none."""
    batches = sentence_batches(sentence_texts(transcript))
    return join_embeddings([embed(b) for b in batches]) if batches else None


def segment_transcript(
    transcript: Transcript,
    episode_id: str,
    *,
    sentence_vectors: Embeddings | None = None,
    chapters: Sequence[float] = (),
    min_s: float | None = None,
    target_s: float = 75.0,
    max_s: float = 120.0,
) -> list[RetrievalSegment]:
    """Passages of whole sentences, at most ``max_s`` long.

    With ``sentence_vectors`` (one row per :func:`sentence_texts` entry) passages end where
    the topic changes (``chapters``, start times in seconds, count as strong hints) and last at
    least ``min_s`` (default 20 s) wherever the transcript allows. Without, they are greedy
    runs reaching ``target_s`` and a trailing passage shorter than ``min_s`` (default 45 s)
    joins the one before while the join stays within ``max_s * 1.25``. A sentence longer than
    ``max_s`` is split between words.
    """
    low = (45.0 if sentence_vectors is None else TOPIC_MIN_S) if min_s is None else min_s
    if not 0 < low <= target_s <= max_s:
        raise ValueError("segmenter bounds must satisfy 0 < min_s <= target_s <= max_s")
    pieces = _pieces(transcript)
    timed = any(p.end_s > 0 for p in pieces)
    if timed:
        measure: Callable[[Sequence[_Unit]], float] = _duration
        limits = (low, target_s, max_s)
    else:
        measure = _length
        limits = (MIN_CHARS, TARGET_CHARS, MAX_CHARS)
    sentences = _sentences(pieces, cut_every_piece=not timed)
    units: list[_Unit] = []
    owner: list[int] = []  # the sentence each unit comes from
    for number, (sentence, tokens) in enumerate(sentences):
        parts = (
            [sentence]
            if measure([sentence]) <= limits[2]
            else [_join(g) for g in _greedy(tokens, measure, limits[1], limits[2])]
        )
        units.extend(parts)
        owner.extend([number] * len(parts))
    if sentence_vectors is None:
        groups = _greedy(units, measure, limits[1], limits[2])
        merged = groups[-2] + groups[-1] if len(groups) > 1 else []
        if (
            merged
            and measure(groups[-1]) < limits[0]
            and measure(merged) <= limits[2] * _TAIL_SLACK
        ):
            groups[-2:] = [merged]
        model = segmenter_model(min_s=low, target_s=target_s, max_s=max_s)
    else:
        if len(sentence_vectors.vectors) != len(sentences):
            raise ValueError(
                f"{len(sentence_vectors.vectors)} sentence vectors for {len(sentences)} sentences"
            )
        params = TilingParams(
            window=TOPIC_WINDOW_S if timed else TOPIC_WINDOW_CHARS,
            shortest=low if timed else TOPIC_MIN_CHARS,
            longest=max_s if timed else MAX_CHARS,
        )
        groups = _topic_groups(units, owner, sentence_vectors, params, chapters)
        model = segmenter_model(min_s=low, max_s=max_s, embedding=sentence_vectors.model)
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


def _topic_groups(
    units: list[_Unit],
    owner: list[int],
    vectors: Embeddings,
    params: TilingParams,
    chapters: Sequence[float],
) -> list[list[_Unit]]:
    """Units grouped at the cuts :mod:`models.topic_tiling` chooses; a split sentence's parts
    share its vector, and a unit that asks for a cut before it gets one."""
    if not units:
        return []
    matrix = np.asarray(vectors.vectors, dtype=np.float32)[owner]
    starts = [u.start_s for u in units]
    ends = [u.end_s for u in units]
    sizes = [float(len(u.text)) for u in units]
    scores = gap_scores(matrix, starts, ends, sizes, params, chapters)
    forced = [u.cut_before for u in units[1:]]
    cuts = choose_cuts(starts, ends, sizes, list(scores), params, forced=forced)
    groups: list[list[_Unit]] = []
    begin = 0
    for cut in [*cuts, len(units) - 1]:
        groups.append(units[begin : cut + 1])
        begin = cut + 1
    return groups


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
