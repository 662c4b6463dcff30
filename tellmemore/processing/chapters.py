"""The publisher's own chapters (``podcast:chapters``, the Podcasting 2.0 JSON chapters format).

A publisher's chapters are written by people who know the show, so the read-along shows them in
place of the summarizer's guesses when they are usable. The document comes from a URL in a feed,
so it is fetched like every other such URL (:class:`~tellmemore.catalog.FeedFetcher`: address
checks, size and time limits) and read defensively: a chapter without a start or a title is
skipped, hidden ones (``"toc": false``) are left out, titles are cleaned and bounded, and the
count is capped. A document that cannot be fetched or read is logged and the summarizer's
chapters are kept: chapters never fail an episode.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from models.text import without_controls
from models.types import Chapter
from tellmemore.catalog import FeedFetcher
from tellmemore.errors import CatalogError

log = logging.getLogger(__name__)

MAX_CHAPTERS = 500
MAX_TITLE_CHARS = 200


class ChaptersError(ValueError):
    """The document is not a chapters document we can use."""


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    seconds = float(value)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def parse_chapters(body: bytes, duration_s: float | None = None) -> tuple[Chapter, ...]:
    """Chapters in time order, each ending where the next starts (or at its own ``endTime``,
    or the episode's end); those past the episode's end are dropped."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ChaptersError(f"not JSON: {exc}") from exc
    listed = doc.get("chapters") if isinstance(doc, dict) else None
    if not isinstance(listed, list):
        raise ChaptersError('no "chapters" list')
    found: dict[float, tuple[float | None, str]] = {}
    for entry in listed[: MAX_CHAPTERS * 2]:
        if not isinstance(entry, dict) or entry.get("toc") is False:
            continue
        start, title = _seconds(entry.get("startTime")), entry.get("title")
        if start is None or not isinstance(title, str):
            continue
        title = " ".join(without_controls(title).split())[:MAX_TITLE_CHARS]
        if title and start not in found and (duration_s is None or start < duration_s):
            found[start] = (_seconds(entry.get("endTime")), title)
    starts = sorted(found)[:MAX_CHAPTERS]
    chapters = []
    for i, start in enumerate(starts):
        own_end, title = found[start]
        following = starts[i + 1] if i + 1 < len(starts) else duration_s
        end = own_end if own_end is not None and own_end > start else following
        if end is None or end <= start:
            end = start
        if following is not None:
            end = min(end, following)
        chapters.append(Chapter(start, end, title))
    return tuple(chapters)


async def publisher_chapters(
    fetcher: FeedFetcher, url: str, *, duration_s: float | None, episode_id: str
) -> tuple[Chapter, ...]:
    """The publisher's chapters, or none when the document is unreachable or unusable."""
    try:
        fetched = await fetcher.fetch(url)
        return parse_chapters(fetched.body, duration_s)
    except (CatalogError, ChaptersError) as exc:
        log.warning(
            "publisher chapters unusable, keeping the summarizer's",
            extra={"episode_id": episode_id, "url": url, "reason": str(exc)},
        )
        return ()


def chapters_doc(chapters: tuple[Chapter, ...]) -> list[dict[str, Any]]:
    """As the episode row keeps them (``episodes.publisher_chapters``)."""
    return [{"start_s": c.start_s, "end_s": c.end_s, "title": c.title} for c in chapters]
