"""Publisher transcripts (``podcast:transcript``) read into :class:`~models.types.Transcript`.

Publishers serve WebVTT, SRT, Podcasting 2.0 JSON, plain text or HTML, often with a wrong or
generic mime type, so the format comes from the mime type first, then the content, then the
URL's extension. Plain text and HTML carry no timings: their segments have
``start_s == end_s == 0.0`` and the transcript ``duration_s == 0.0``, which the segmenter reads
as "cut by characters". Anything unreadable raises :class:`TranscriptFormatError` with a code.
"""

from __future__ import annotations

import codecs
import contextlib
import html
import json
import math
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from models.errors import TranscriptFormatError
from models.text import without_controls
from models.types import ModelRef, Transcript, TranscriptSegment

_MIME_FORMATS = dict.fromkeys(("text/vtt", "text/x-vtt"), "vtt")
_MIME_FORMATS |= dict.fromkeys(
    ("application/x-subrip", "application/srt", "text/srt", "text/x-srt"), "srt"
)
_MIME_FORMATS |= {"application/json": "json", "text/json": "json", "text/plain": "text"}
_MIME_FORMATS |= {"text/html": "html", "application/xhtml+xml": "html"}
_GENERIC_MIMES = {"", "application/octet-stream", "binary/octet-stream", "application/unknown"}
_EXTENSIONS = {".vtt": "vtt", ".srt": "srt", ".json": "json", ".txt": "text", ".htm": "html"}
_EXTENSIONS[".html"] = "html"
_TIMESTAMP = re.compile(r"(?:(\d+):)?(\d+):(\d{2})[.,](\d{1,3})")
_TIMING = re.compile(r"\s*(\S+?)\s*-->\s*(\S+)")
_SRT_START = re.compile(r"\s*(?:\d+[ \t]*\n\s*)?\d+:\d{2}:\d{2},\d{1,3}\s*-->")
_VOICE = re.compile(r"<v(?:\.[^\s>]*)?(?:[ \t]+([^>]*))?>")
_TAG = re.compile(r"<[^>]*>|\{\\[^}]*\}")
_BINARY = re.compile(r"[\x00-\x08\x0e-\x1f]")
_SPEAKER = re.compile(r"([A-Z][\w'.\-]*(?:[ ][A-Z0-9][\w'.\-]*){0,3}):\s+(\S.*)")


def parse_transcript(data: bytes, mime_type: str | None, *, url: str | None = None) -> Transcript:
    """Read a publisher transcript; ``language`` is left to the caller, who knows the feed's."""
    if not data.strip():
        raise TranscriptFormatError("The transcript file is empty.", code="transcript_empty")
    mime, _, params = (mime_type or "").partition(";")
    mime = mime.strip().lower()
    declared = _MIME_FORMATS.get(mime)
    if declared is None and mime not in _GENERIC_MIMES:
        raise _unknown(f"Transcripts of type {mime!r} are not supported.")
    if data.startswith(b"%PDF"):
        raise _unknown("The transcript is a PDF document, which is not supported.")
    text = _decode(data, _charset(params), strict=declared is not None)
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise TranscriptFormatError("The transcript file is empty.", code="transcript_empty")
    if _BINARY.search(text):
        raise _unknown("The transcript looks like binary data, not text.")
    fmt = declared if declared not in (None, "text") else _sniff(text) or declared
    fmt = fmt or _EXTENSIONS.get(PurePosixPath(urlsplit(url or "").path).suffix.lower())
    if fmt is None:
        raise _unknown("The transcript's format could not be recognised.")
    return _finish(_PARSERS[fmt](text), fmt)


def _unknown(message: str) -> TranscriptFormatError:
    return TranscriptFormatError(message, code="transcript_unknown_format")


def _malformed(message: str) -> TranscriptFormatError:
    return TranscriptFormatError(message, code="transcript_malformed")


def _charset(params: str) -> str | None:
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


def _decode(data: bytes, charset: str | None, *, strict: bool) -> str:
    """BOM first, then a declared charset Python knows, then UTF-8; never guess further."""
    if data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8"
        if charset:
            with contextlib.suppress(LookupError):
                encoding = codecs.lookup(charset).name
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        if not strict:
            raise _unknown("The transcript is binary data, not a text transcript.") from exc
        raise TranscriptFormatError(
            f"The transcript is not valid {encoding} text.", code="transcript_encoding"
        ) from exc


def _sniff(text: str) -> str | None:
    """Formats with unmistakable openings; HTML only by its doctype or root element."""
    head = text.lstrip()
    if head.startswith("WEBVTT"):
        return "vtt"
    if _SRT_START.match(head):
        return "srt"
    if head.startswith("{"):
        try:
            doc = json.loads(head)
        except ValueError:
            return None
        return "json" if isinstance(doc, dict) and "segments" in doc else None
    return "html" if re.match(r"(?i)<!doctype html|<html[\s>]", head) else None


def _seconds(stamp: str, line: str) -> float:
    match = _TIMESTAMP.fullmatch(stamp)
    if match is None or int(match[3]) > 59 or (match[1] is not None and int(match[2]) > 59):
        raise _malformed(f"The transcript has an invalid timestamp {stamp!r} in {line.strip()!r}.")
    hours, minutes, seconds = int(match[1] or 0), int(match[2]), int(match[3])
    return hours * 3600 + minutes * 60 + seconds + int(match[4].ljust(3, "0")) / 1000


def _timing(line: str) -> tuple[float, float]:
    match = _TIMING.match(line)
    if match is None:
        raise _malformed(f"The transcript has an invalid cue timing {line.strip()!r}.")
    return _seconds(match[1], line), _seconds(match[2], line)


def _clean(text: str) -> str:
    return " ".join(html.unescape(_TAG.sub("", text)).split())


def _parse_vtt(text: str) -> list[TranscriptSegment]:
    blocks = re.split(r"\n[ \t]*\n", text.lstrip())
    if not re.match(r"WEBVTT(?:[ \t]|$)", blocks[0]):
        raise _malformed("The WebVTT transcript does not start with a WEBVTT line.")
    segments: list[TranscriptSegment] = []
    stray = False
    for block in blocks[1:]:
        lines = block.strip("\n").split("\n")
        if re.match(r"(NOTE|STYLE|REGION)(?:[ \t]|$)", lines[0]) or not block.strip():
            continue
        at = next((i for i, line in enumerate(lines[:2]) if "-->" in line), None)
        if at is None:
            stray = True
            continue
        start, end = _timing(lines[at])
        segments.extend(_voices("\n".join(lines[at + 1 :]), start, end))
    if not segments and stray:
        raise _malformed("The WebVTT transcript has text but no cue timings.")
    return segments


def _voices(cue: str, start: float, end: float) -> list[TranscriptSegment]:
    """One segment per ``<v Name>`` span; the cue's time is shared out by text length."""
    parts = _VOICE.split(cue)
    spans = [(None, _clean(parts[0]))] + [
        ((name or "").strip() or None, _clean(body))
        for name, body in zip(parts[1::2], parts[2::2], strict=True)
    ]
    spans = [(speaker, body) for speaker, body in spans if body]
    total = sum(len(body) for _, body in spans) or 1
    segments, at = [], start
    for speaker, body in spans:
        until = at + (end - start) * len(body) / total
        segments.append(TranscriptSegment(at, until, body, speaker=speaker))
        at = until
    return segments


def _parse_srt(text: str) -> list[TranscriptSegment]:
    """Line by line, so missing index lines and stray blank lines do not derail the cues."""
    cues: list[tuple[float, float, list[str]]] = []
    pending: str | None = None
    for line in text.split("\n"):
        stripped = line.strip()
        if "-->" in stripped:
            cues.append((*_timing(stripped), []))
            pending = None
            continue
        if pending is not None and cues:
            cues[-1][2].append(pending)
        pending = None
        if stripped.isdigit():
            pending = stripped
        elif stripped and cues:
            cues[-1][2].append(stripped)
    if pending is not None and cues:
        cues[-1][2].append(pending)
    if not cues:
        raise _malformed("The SRT transcript has no cue timings.")
    return [TranscriptSegment(s, e, _clean(" ".join(lines))) for s, e, lines in cues]


def _number(value: Any, key: str, index: int) -> float:
    try:
        if isinstance(value, bool):
            raise TypeError
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise _malformed(f"Segment {index} of the JSON transcript has an invalid {key}.")
    return number


def _parse_json(text: str) -> list[TranscriptSegment]:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise _malformed(f"The JSON transcript does not parse: {exc}.") from exc
    items = doc.get("segments") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise _malformed("The JSON transcript has no list of segments.")
    segments = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _malformed(f"Segment {index} of the JSON transcript is not an object.")
        body, speaker = item.get("body", ""), item.get("speaker")
        if not isinstance(body, str) or not isinstance(speaker, str | None):
            raise _malformed(f"Segment {index} of the JSON transcript is not a text segment.")
        start = _number(item.get("startTime"), "startTime", index)
        end = _number(item.get("endTime", start), "endTime", index)
        speaker = (speaker or "").strip() or None
        segments.append(TranscriptSegment(start, end, body, speaker=speaker))
    return segments


def _parse_text(text: str) -> list[TranscriptSegment]:
    """Paragraphs end at blank lines or at a line opening with ``Speaker Name:``."""
    segments: list[TranscriptSegment] = []
    lines: list[str] = []
    speaker: str | None = None

    def close() -> None:
        if lines:
            segments.append(TranscriptSegment(0.0, 0.0, " ".join(lines), speaker=speaker))
        lines.clear()

    for line in text.split("\n"):
        stripped = line.strip()
        label = _SPEAKER.fullmatch(stripped)
        if not stripped or label:
            close()
            speaker = label[1] if label else None
        if label:
            lines.append(label[2])
        elif stripped:
            lines.append(stripped)
    close()
    return segments


class _HTMLText(HTMLParser):
    """Visible text with paragraph breaks at block elements; scripts and styles are dropped."""

    BLOCKS = frozenset({"p", "div", "li", "ul", "ol", "tr", "table", "section", "article"})
    BLOCKS |= {"h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "dt", "dd", "pre"}
    HIDDEN = frozenset({"script", "style", "head", "template", "noscript", "svg"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hidden += tag in self.HIDDEN
        self.parts.append("\n" if tag == "br" else "\n\n" if tag in self.BLOCKS else "")

    def handle_endtag(self, tag: str) -> None:
        self.hidden -= tag in self.HIDDEN and self.hidden > 0
        self.parts.append("\n\n" if tag in self.BLOCKS else "")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(re.sub(r"\s+", " ", data))


def _parse_html(text: str) -> list[TranscriptSegment]:
    reader = _HTMLText()
    reader.feed(text)
    reader.close()
    return _parse_text("".join(reader.parts))


_PARSERS: dict[str, Callable[[str], list[TranscriptSegment]]] = {
    "vtt": _parse_vtt,
    "srt": _parse_srt,
    "json": _parse_json,
    "text": _parse_text,
    "html": _parse_html,
}


def _finish(raw: list[TranscriptSegment], fmt: str) -> Transcript:
    """Whitespace collapsed, empty cues dropped, times clamped (0 <= start <= end), sorted."""
    segments = []
    for seg in raw:
        # Escapes (JSON's \u0000, HTML's &#1;) can still carry control characters.
        text = " ".join(without_controls(seg.text).split())
        start = round(max(seg.start_s, 0.0), 3)
        if text:
            end = round(max(seg.end_s, start), 3)
            speaker = without_controls(seg.speaker) if seg.speaker else seg.speaker
            segments.append(TranscriptSegment(start, end, text, speaker=speaker))
    if not segments:
        raise TranscriptFormatError("The transcript contains no text.", code="transcript_empty")
    segments.sort(key=lambda s: s.start_s)
    return Transcript(
        segments=tuple(segments),
        language=None,
        duration_s=max(s.end_s for s in segments),
        model=ModelRef(kind="publisher", name=f"publisher:{fmt}", version="1"),
    )
