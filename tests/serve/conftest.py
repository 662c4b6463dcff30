"""The serve tier's helpers. Its Ray cluster with both Serve apps (``online``, ``online_settings``)
is tests/support/stack.py's, shared with the web tier: one per session."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import numpy as np
import pytest

from models import audio
from tests.support.audio_files import encode, librivox
from tests.support.fake_cluster import free_port
from tests.support.stack import Online

__all__ = ["Online", "free_port", "rss", "wait_for"]


@pytest.fixture(scope="session")
def speech_mp3(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, str]:
    """Real read speech (LibriVox clips joined with pauses, ~30 s) as MP3, and its text."""
    pause = np.zeros(int(1.2 * audio.SAMPLE_RATE), dtype=np.float32)
    pieces: list[np.ndarray] = []
    for wav, _ in librivox():
        pieces += [audio.decode(wav), pause]
    path = encode(np.concatenate(pieces), tmp_path_factory.mktemp("speech") / "s.mp3",
                  "libmp3lame")  # fmt: skip
    return path.read_bytes(), " ".join(text for _, text in librivox())


def rss(base: str, items: list[dict[str, Any]]) -> bytes:
    """A small podcast feed; each item: guid, title, enclosure (url), type, date, and
    optionally chapters (the URL of a podcast:chapters document)."""
    entries = "".join(
        f"""<item><title>{i["title"]}</title><guid isPermaLink="false">{i["guid"]}</guid>
        <pubDate>{i.get("date", "Mon, 02 Nov 2026 09:00:00 +0000")}</pubDate>
        <enclosure url="{i["enclosure"]}" length="1000" type="{i.get("type", "audio/mpeg")}"/>
        {_chapters(i.get("chapters"))}</item>"""
        for i in items
    )
    return (
        f"""<?xml version="1.0"?><rss version="2.0"
        xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel>
        <title>Test show {uuid.uuid4().hex[:6]}</title><link>{base}</link>
        <description>Speech for tests.</description>{entries}</channel></rss>"""
    ).encode()


def _chapters(url: str | None) -> str:
    if url is None:
        return ""
    return f'<podcast:chapters url="{url}" type="application/json+chapters"/>'


async def wait_for(
    http: httpx.AsyncClient, episode_id: str, states: set[str], timeout_s: float = 300
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        body: dict[str, Any] = (await http.get(f"/episodes/{episode_id}")).json()
        if body["status"] in states:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"episode {episode_id} still {body['status']}: {body}")
        await asyncio.sleep(1)
