"""/demo/audio/ and /demo/transcripts/: the demo feed's links resolve through the app to the
committed files, with byte ranges for players, and nothing else under the package is reachable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from defusedxml import ElementTree as SafeET
from httpx import AsyncClient

from tellmemore.settings import Settings
from tests.conftest import serve

DEMO = Path(__file__).resolve().parents[2] / "tellmemore" / "ops" / "demo"
PODCAST = "{https://podcastindex.org/namespace/1.0}"


@pytest.fixture
async def demo(settings: Settings) -> AsyncIterator[AsyncClient]:
    enabled = settings.model_copy(
        update={"demo": settings.demo.model_copy(update={"enabled": True})}
    )
    async with serve(enabled) as http:
        yield http


async def test_every_feed_link_resolves_to_its_file(demo: AsyncClient) -> None:
    feed = await demo.get("/demo/feed.xml")
    assert feed.status_code == 200
    root = SafeET.fromstring(feed.content)
    enclosures = root.findall("channel/item/enclosure")
    assert len(enclosures) == 3
    for enclosure in enclosures:
        url = enclosure.get("url", "")
        assert url.startswith("http://api.test/demo/audio/")
        audio = await demo.get(urlsplit(url).path)
        assert audio.status_code == 200
        assert audio.headers["content-type"] == enclosure.get("type") == "audio/mpeg"
        assert int(audio.headers["content-length"]) == int(enclosure.get("length", "0"))
        assert audio.content == (DEMO / "audio" / Path(url).name).read_bytes()
        assert audio.content[:3] == b"ID3" and audio.headers["accept-ranges"] == "bytes"
    (transcript,) = root.findall(f"channel/item/{PODCAST}transcript")
    vtt = await demo.get(urlsplit(transcript.get("url", "")).path)
    assert vtt.status_code == 200
    assert vtt.headers["content-type"] == "text/vtt; charset=utf-8"
    assert vtt.text.startswith("WEBVTT\n") and "CRISPR" in vtt.text


async def test_byte_ranges_and_head(demo: AsyncClient) -> None:
    path = "/demo/audio/tmm-demo-0002.mp3"
    whole = (DEMO / "audio" / "tmm-demo-0002.mp3").read_bytes()
    part = await demo.get(path, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(whole)}"
    assert part.content == whole[1000:2000]
    tail = await demo.get(path, headers={"Range": "bytes=-500"})
    assert tail.status_code == 206 and tail.content == whole[-500:]
    beyond = await demo.get(path, headers={"Range": f"bytes={len(whole)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(whole)}"
    head = await demo.head(path)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(whole)


@pytest.mark.parametrize(
    "path",
    [
        "/demo/audio/tmm-demo-0009.mp3",
        "/demo/audio/tmm-demo-0003.vtt",  # a transcript's name asked for as audio
        "/demo/transcripts/tmm-demo-0001.vtt",
        "/demo/transcripts/tmm-demo-0003.mp3",
    ],
)
async def test_unknown_names_are_404(demo: AsyncClient, path: str) -> None:
    response = await demo.get(path)
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "demo_file_not_found"
    assert error["details"] == {"name": path.rsplit("/", 1)[1]}


@pytest.mark.parametrize(
    "path",
    [
        "/demo/audio/..",
        "/demo/audio/%2E%2E%2Ffeed.xml",
        "/demo/audio/..%2F__init__.py",
        "/demo/transcripts/..%2Faudio%2Ftmm-demo-0001.mp3",
        "/demo/audio/%2Fetc%2Fpasswd",
        "/demo/audio/..%5C__init__.py",
        "/demo/transcripts/..%2F..%2Fsettings.py",
    ],
)
async def test_paths_outside_the_folders_are_404(demo: AsyncClient, path: str) -> None:
    response = await demo.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] in ("not_found", "demo_file_not_found")


async def test_no_demo_files_unless_enabled(settings: Settings) -> None:
    async with serve(settings) as http:
        assert (await http.get("/demo/audio/tmm-demo-0001.mp3")).status_code == 404
