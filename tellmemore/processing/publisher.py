"""The publisher's own transcript (``podcast:transcript``), when one is usable.

Shared by online processing and batch runs: links are tried best format first (timed and
structured before plain text); an unreachable or unparsable one is logged and the next tried.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from models.errors import ModelError
from models.transcripts import parse_transcript
from models.types import Transcript
from tellmemore.catalog import FeedFetcher
from tellmemore.errors import CatalogError

log = logging.getLogger(__name__)

# Publisher formats in order of preference: timed and structured first.
_TRANSCRIPT_RANK = {
    "application/json": 0, "text/vtt": 1, "application/x-subrip": 2, "application/srt": 2,
    "text/srt": 2, "text/html": 3, "text/plain": 4,
}  # fmt: skip


async def publisher_transcript(
    fetcher: FeedFetcher,
    links: Sequence[dict[str, Any]],
    *,
    language: str | None,
    episode_id: str,
) -> Transcript | None:
    """The best transcript the publisher offers, or None (then we transcribe ourselves)."""
    ranked = sorted(links, key=lambda t: _TRANSCRIPT_RANK.get(str(t.get("type", "")).lower(), 9))
    for link in ranked:
        try:
            fetched = await fetcher.fetch(str(link["url"]))
            parsed = parse_transcript(fetched.body, fetched.content_type or link.get("type"),
                                      url=fetched.final_url)  # fmt: skip
        except (CatalogError, ModelError) as exc:
            log.warning(
                "publisher transcript unusable, trying the next",
                extra={"episode_id": episode_id, "url": link.get("url"), "reason": str(exc)},
            )
            continue
        return Transcript(parsed.segments, link.get("language") or language, parsed.duration_s,
                          parsed.model)  # fmt: skip
    return None
