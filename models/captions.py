"""Transcripts on their way out: a versioned JSON document, WebVTT and SRT captions.

The JSON document (``"format": "tellmemore.transcript/1"``) is the API's wire format. Its field
names are written out here rather than derived from the dataclasses, so renaming a Python
attribute never breaks a client; a change old readers cannot ignore bumps the version. Words are
compact ``[start_s, end_s, text, probability]`` arrays because an hour of speech has ~10,000.

Captions follow common subtitling practice: at most two lines of about 42 characters and about
seven seconds on screen. A recogniser's segments are often longer, so they are cut into several
cues at word boundaries, timed by the words when the recogniser gave word timings and in
proportion to characters otherwise. Cut points balance the two halves and prefer punctuation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, get_args, get_type_hints

from models.errors import TranscriptFormatError
from models.types import ModelRef, Transcript, TranscriptSegment, Word

__all__ = ["FORMAT", "to_srt", "to_vtt", "transcript_from_dict", "transcript_to_dict"]

FORMAT = "tellmemore.transcript/1"
LINE_CHARS = 42  # the usual broadcast/streaming limit per caption line
MAX_CUE_S = 7.0  # longer cues are hard to read along with speech
_KINDS = get_args(get_type_hints(ModelRef)["kind"])
_VTT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def transcript_to_dict(t: Transcript) -> dict[str, Any]:
    """The transcript as a JSON-ready document that :func:`transcript_from_dict` reads back
    exactly (``model.id`` is included so clients need not rebuild it)."""
    return {
        "format": FORMAT,
        "language": t.language,
        "duration_s": t.duration_s,
        "model": {
            "kind": t.model.kind,
            "name": t.model.name,
            "version": t.model.version,
            "id": t.model.id,
        },
        "segments": [
            {
                "start_s": s.start_s,
                "end_s": s.end_s,
                "text": s.text,
                "speaker": s.speaker,
                "words": [[w.start_s, w.end_s, w.text, w.probability] for w in s.words],
            }
            for s in t.segments
        ],
    }


def transcript_from_dict(d: Mapping[str, Any]) -> Transcript:
    """Read a document written by :func:`transcript_to_dict`; anything malformed raises
    :class:`TranscriptFormatError` naming the offending field, since documents come from outside."""
    if not isinstance(d, Mapping):
        raise _invalid(f"The transcript document must be an object, not {type(d).__name__}.")
    if d.get("format") != FORMAT:
        raise TranscriptFormatError(
            f"The transcript document's format is {d.get('format')!r}; expected {FORMAT!r}.",
            code="transcript_unknown_format",
        )
    model = _mapping(_get(d, "model", "document"), "model")
    kind, name, version = (_get(model, key, "model") for key in ("kind", "name", "version"))
    if kind not in _KINDS:
        raise _invalid(f"model.kind must be one of {', '.join(_KINDS)}, not {kind!r}.")
    ref = ModelRef(
        kind=kind, name=_text(name, "model.name"), version=_text(version, "model.version")
    )
    if _get(model, "id", "model") != ref.id:
        raise _invalid(f"model.id {model['id']!r} does not match its kind, name and version.")
    items = _get(d, "segments", "document")
    if not isinstance(items, list):
        raise _invalid("segments must be a list.")
    return Transcript(
        segments=tuple(_segment(item, f"segments[{i}]") for i, item in enumerate(items)),
        language=_optional_text(_get(d, "language", "document"), "language"),
        duration_s=_number(_get(d, "duration_s", "document"), "duration_s"),
        model=ref,
    )


def to_vtt(t: Transcript) -> str:
    """WebVTT captions; a segment's speaker becomes a ``<v Speaker>`` voice tag."""
    blocks = ["WEBVTT"]
    for cue in _cues(t):
        body = "\n".join(line.translate(_VTT_ESCAPES) for line in cue.lines)
        if cue.speaker:
            body = f"<v {cue.speaker.translate(_VTT_ESCAPES)}>{body}"
        blocks.append(f"{_stamp(cue.start_ms, '.')} --> {_stamp(cue.end_ms, '.')}\n{body}")
    return "\n\n".join(blocks) + "\n"


def to_srt(t: Transcript) -> str:
    """SRT captions. SRT has no escapes and no speakers: text goes out as is, except that
    ``-->`` (which players read as a timing line) becomes ``->``."""
    blocks = [
        f"{n}\n{_stamp(cue.start_ms, ',')} --> {_stamp(cue.end_ms, ',')}\n"
        + "\n".join(line.replace("-->", "->") for line in cue.lines)
        for n, cue in enumerate(_cues(t), start=1)
    ]
    return "\n\n".join(blocks) + "\n" if blocks else ""


class _Cue(NamedTuple):
    start_ms: int
    end_ms: int
    lines: list[str]
    speaker: str | None


def _cues(t: Transcript) -> list[_Cue]:
    """Readable cues in time order. Empty segments are skipped; a cue overlapping the one
    before starts when it ends, and every cue lasts at least a millisecond, because players
    disagree about overlapping or empty cues."""
    cues: list[_Cue] = []
    last_end = 0
    for seg in sorted(t.segments, key=lambda s: s.start_s):
        tokens = seg.text.split()
        if not tokens:
            continue
        times = _word_times(seg, tokens) or _char_times(seg, tokens)
        # the segment's own bounds win at its edges: words often start after it, end before it
        times[0] = (seg.start_s, times[0][1])
        times[-1] = (times[-1][0], seg.end_s)
        offsets = [0]
        for token in tokens:
            offsets.append(offsets[-1] + len(token) + 1)
        speaker = " ".join((seg.speaker or "").split()) or None
        for lo, hi in _split(tokens, times, offsets, lo=0, hi=len(tokens)):
            start_ms = max(round(times[lo][0] * 1000), last_end)
            last_end = max(round(times[hi - 1][1] * 1000), start_ms + 1)
            lines = _lines(tokens[lo:hi]) or [" ".join(tokens[lo:hi])]  # one over-long word
            cues.append(_Cue(start_ms, last_end, lines, speaker))
    return cues


def _word_times(seg: TranscriptSegment, tokens: list[str]) -> list[tuple[float, float]] | None:
    """Each text token's time from the words that spell it, or None when the words do not spell
    the text. Recognisers write words with leading spaces ("" joins them) or bare (" " does)."""
    if not seg.words:
        return None
    for sep in ("", " "):
        spelled, owner = "", []
        for i, word in enumerate(seg.words):
            piece = (sep if i else "") + word.text
            spelled += piece
            owner += [i] * len(piece)
        found = list(re.finditer(r"\S+", spelled))
        if [match[0] for match in found] == tokens:
            return [
                (seg.words[owner[m.start()]].start_s, seg.words[owner[m.end() - 1]].end_s)
                for m in found
            ]
    return None


def _char_times(seg: TranscriptSegment, tokens: list[str]) -> list[tuple[float, float]]:
    """Token times in proportion to characters (each with its following space), back to back."""
    total = sum(len(token) + 1 for token in tokens)
    span, at, times = seg.end_s - seg.start_s, 0, []
    for token in tokens:
        start = seg.start_s + span * at / total
        at += len(token) + 1
        times.append((start, seg.start_s + span * at / total))
    return times


def _split(
    tokens: list[str],
    times: list[tuple[float, float]],
    offsets: list[int],
    *,
    lo: int,
    hi: int,
) -> list[tuple[int, int]]:
    """Token ranges that each fit a cue, by halving: a cut near the middle (in characters and
    in time) keeps cues even, and a cut after a sentence or clause reads better than one inside."""

    def size(a: int, b: int) -> tuple[int, float]:
        return offsets[b] - offsets[a] - 1, times[b - 1][1] - times[a][0]

    if hi - lo == 1 or (size(lo, hi)[1] <= MAX_CUE_S + 1e-9 and _lines(tokens[lo:hi])):
        return [(lo, hi)]

    def cost(i: int) -> float:
        (lc, lt), (rc, rt) = size(lo, i), size(i, hi)
        imbalance = abs(lc - rc) / (lc + rc) + abs(lt - rt) / ((lt + rt) or 1.0)
        end = tokens[i - 1][-1]
        return imbalance / 2 - (0.5 if end in ".?!" else 0.25 if end in ",;:" else 0.0)

    cut = min(range(lo + 1, hi), key=cost)
    head = _split(tokens, times, offsets, lo=lo, hi=cut)
    return head + _split(tokens, times, offsets, lo=cut, hi=hi)


def _lines(tokens: Sequence[str]) -> list[str] | None:
    """One line, or two as even as possible (even lines are easier to read); None if the
    tokens need more than two lines of :data:`LINE_CHARS`."""
    text = " ".join(tokens)
    if len(text) <= LINE_CHARS:
        return [text]
    if len(text) > 2 * LINE_CHARS + 1:
        return None
    pairs = [(" ".join(tokens[:i]), " ".join(tokens[i:])) for i in range(1, len(tokens))]
    pairs = [pair for pair in pairs if max(map(len, pair)) <= LINE_CHARS]
    return list(min(pairs, key=lambda pair: max(map(len, pair)))) if pairs else None


def _stamp(ms: int, separator: str) -> str:
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    seconds, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{ms:03d}"


def _invalid(message: str) -> TranscriptFormatError:
    return TranscriptFormatError(
        f"Invalid transcript document: {message}", code="transcript_malformed"
    )


def _get(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise _invalid(f"{where} has no {key!r}.")
    return obj[key]


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _invalid(f"{where} must be an object.")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _invalid(f"{where} must be a string, not {value!r}.")
    return value


def _optional_text(value: Any, where: str) -> str | None:
    return None if value is None else _text(value, where)


def _number(value: Any, where: str) -> float:
    """Ints are accepted (JSON writers drop ``.0``); booleans, NaN and infinities are not."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _invalid(f"{where} must be a finite number, not {value!r}.")
    return float(value)


def _segment(item: Any, where: str) -> TranscriptSegment:
    seg = _mapping(item, where)
    words = _get(seg, "words", where)
    if not isinstance(words, list):
        raise _invalid(f"{where}.words must be a list.")
    return TranscriptSegment(
        start_s=_number(_get(seg, "start_s", where), f"{where}.start_s"),
        end_s=_number(_get(seg, "end_s", where), f"{where}.end_s"),
        text=_text(_get(seg, "text", where), f"{where}.text"),
        words=tuple(_word(word, f"{where}.words[{i}]") for i, word in enumerate(words)),
        speaker=_optional_text(_get(seg, "speaker", where), f"{where}.speaker"),
    )


def _word(item: Any, where: str) -> Word:
    if not isinstance(item, list | tuple) or len(item) != 4:
        raise _invalid(f"{where} must be [start_s, end_s, text, probability], not {item!r}.")
    start, end, text, probability = item
    return Word(
        start_s=_number(start, f"{where}[0]"),
        end_s=_number(end, f"{where}[1]"),
        text=_text(text, f"{where}[2]"),
        probability=None if probability is None else _number(probability, f"{where}[3]"),
    )
