"""Lenient readers for the loosely specified values real feeds contain."""

from __future__ import annotations

import calendar
import dataclasses
import html
import re
import time
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

from models.text import without_controls

_BLOCK_TAGS = frozenset(
    {"p", "br", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "blockquote"}
)
_MAX_TEXT = 100_000


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        elif tag in _BLOCK_TAGS and tag != "br":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(value: str | None) -> str | None:
    """Plain text from show-notes HTML: tags dropped, entities decoded, paragraphs kept."""
    if not value:
        return None
    parser = _TextExtractor()
    parser.feed(value)
    parser.close()
    text = "".join(parser.parts)
    lines = [re.sub(r"[ \t\r\f\v\xa0]+", " ", line).strip() for line in text.split("\n")]
    out = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return out[:_MAX_TEXT] or None


def scrub(value: Any) -> Any:
    """Every string in a parsed feed without control characters (:mod:`models.text`):
    feedparser decodes ``&#0;`` and passes raw control bytes through, and PostgreSQL refuses
    NUL. Dicts and lists (feedparser's result) change in place; dataclasses and plain tuples
    come back as copies; anything else (numbers, parsed dates) is left alone."""
    if isinstance(value, str):
        return without_controls(value)
    if isinstance(value, dict):
        for key, item in list(value.items()):
            value[key] = scrub(item)
        return value
    if isinstance(value, list):
        value[:] = [scrub(item) for item in value]
        return value
    if type(value) is tuple:
        return tuple(scrub(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: scrub(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init
        }
        return dataclasses.replace(value, **changes)
    return value


def clean_text(value: str | None, limit: int = 2000) -> str | None:
    """A single-line title-like string: entities decoded, whitespace folded, length bounded."""
    if value is None:
        return None
    text = re.sub(r"\s+", " ", html.unescape(value)).strip()
    return text[:limit] or None


def parse_duration(raw: str | None) -> int | None:
    """``itunes:duration`` as seconds: ``"3600"``, ``"59:30"``, ``"1:02:03"``, ``"1:02:03.5"``.

    Anything else (``"45 min"``, negative, absurdly long) gives ``None``; the raw text is kept
    beside it by the caller.
    """
    if raw is None:
        return None
    text = raw.strip()
    if not text:
        return None
    parts = text.split(":")
    if len(parts) > 3:
        return None
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        return None
    if any(n < 0 or n != n for n in numbers):
        return None
    if len(parts) > 1 and any(n >= 60 for n in numbers[1:]):
        return None
    seconds = 0.0
    for n in numbers:
        seconds = seconds * 60 + n
    total = round(seconds)
    # Over a week is a publisher error (often milliseconds), not a real episode length.
    if total > 7 * 24 * 3600:
        return None
    return total


def parse_int(raw: object, *, low: int = 0, high: int = 1_000_000) -> int | None:
    """An integer within bounds, or ``None`` for anything else."""
    if raw is None:
        return None
    try:
        value = int(str(raw).strip())
    except ValueError:
        return None
    return value if low <= value <= high else None


def parse_length(raw: object) -> int | None:
    """``enclosure length``: bytes, where ``0``/missing/garbage mean unknown."""
    value = parse_int(raw, low=1, high=2**62)
    return value


def parse_explicit(raw: object) -> bool | None:
    """``itunes:explicit`` in its many spellings."""
    if raw is None:
        return None
    text = str(raw).strip().lower()
    if text in ("yes", "true", "explicit", "1"):
        return True
    if text in ("no", "false", "clean", "0"):
        return False
    return None


def struct_to_datetime(value: time.struct_time | None) -> datetime | None:
    """feedparser's UTC ``struct_time`` as an aware datetime (``None`` if out of range)."""
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


# Later than this past the parse is no publication date but a typo or a placeholder ("2099").
_FUTURE_SLACK = timedelta(days=2)


def publication_date(value: time.struct_time | None, now: datetime) -> datetime | None:
    """An item's publication date when it is one: parsed, and not in the future beyond a
    couple of days of clock and time-zone slack. Anything else is undated (the raw text is
    kept and shown beside it), so it sorts after the dated episodes instead of before them."""
    parsed = struct_to_datetime(value)
    if parsed is None or parsed > now + _FUTURE_SLACK:
        return None
    return parsed
