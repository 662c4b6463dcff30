"""The download stage: the publisher's transcript when there is a usable one, else the audio
enclosure, downloaded with the online path's limits and staged in S3 under ``audio/``.

Staged audio survives until the episode is written, so a run killed after downloading resumes
without fetching from the publisher again. Runs as plain Ray tasks (I/O bound); the episodes of
one block download concurrently.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from dataclasses import replace
from pathlib import Path
from uuid import UUID

import pyarrow as pa

from models.captions import transcript_to_dict
from pipelines.rows import Item, failed, from_table, to_table
from tellmemore.catalog import FeedFetcher, make_http_client
from tellmemore.processing import (
    DownloadLimits,
    ProcessingError,
    audio_prefix,
    chapters_doc,
    download_enclosure,
    publisher_chapters,
    publisher_transcript,
    stage_audio,
)
from tellmemore.settings import Settings
from tellmemore.storage import ObjectStore


def download_block(table: pa.Table, settings: Settings) -> pa.Table:
    """Every live row gets either ``transcript`` (the publisher's) or ``audio_key``."""
    items = from_table(table)
    return to_table(asyncio.run(_download_all(items, settings)))


async def _download_all(items: list[Item], settings: Settings) -> list[Item]:
    objects = ObjectStore(settings.s3)
    limits = DownloadLimits.from_settings(settings)
    async with make_http_client(settings.feeds) as http:
        fetcher = FeedFetcher(settings.feeds, http)

        async def one(item: Item) -> Item:
            if item.failed:
                return item
            try:
                return await _download(item, settings, fetcher, objects, limits)
            except Exception as exc:
                return failed(item, "download", exc)

        return list(await asyncio.gather(*(one(i) for i in items)))


async def _download(
    item: Item,
    settings: Settings,
    fetcher: FeedFetcher,
    objects: ObjectStore,
    limits: DownloadLimits,
) -> Item:
    item = await _chapters(item, fetcher)
    links = json.loads(item.publisher_transcripts or "[]")
    if settings.processing.prefer_publisher_transcript and links:
        found = await publisher_transcript(
            fetcher, links, language=item.language or None, episode_id=item.episode_id
        )
        if found is not None:
            return replace(item, transcript=json.dumps(transcript_to_dict(found)),
                           transcript_source="publisher")  # fmt: skip
    if not item.enclosure_url:
        raise ProcessingError(
            "no_audio", "The episode has no audio enclosure to transcribe.", retryable=False
        )
    staged = await asyncio.to_thread(objects.keys, audio_prefix_of(item))
    if staged:  # an earlier, interrupted run downloaded it already
        return replace(item, audio_key=staged[0])
    with tempfile.TemporaryDirectory(prefix="tmm-batch-audio-") as tmp:
        downloaded = await download_enclosure(item.enclosure_url, Path(tmp) / "enclosure", limits)
        key = await stage_audio(objects, item.episode_id, downloaded)
    return replace(item, audio_key=key)


async def _chapters(item: Item, fetcher: FeedFetcher) -> Item:
    """The publisher's chapters, read while the episode's other documents are fetched; an
    unusable document leaves the stored ones (``publisher_chapters`` stays "")."""
    if not item.chapters_url:
        return replace(item, publisher_chapters="[]")
    found = await publisher_chapters(fetcher, item.chapters_url, duration_s=None,
                                     episode_id=item.episode_id)  # fmt: skip
    return replace(item, publisher_chapters=json.dumps(chapters_doc(found)) if found else "")


def audio_prefix_of(item: Item) -> str:
    return audio_prefix(UUID(item.episode_id))
