"""Downloading enclosures from a real HTTP server on loopback, and staging them on real S3."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tellmemore.processing import (
    DownloadLimits,
    ProcessingError,
    delete_staged,
    download_enclosure,
    sniff_audio_type,
    stage_audio,
)
from tellmemore.settings import S3Settings, Settings
from tellmemore.storage import ObjectStore
from tests.support.audio_files import encode, video_only
from tests.support.http_server import LoopbackHTTPServer, Route

LIMITS = DownloadLimits(
    max_bytes=256 * 1024,
    total_timeout_s=5.0,
    connect_timeout_s=1.0,
    read_timeout_s=1.0,
    max_redirects=3,
    allow_private_hosts=True,  # the test server is on loopback
)
# A global address that is never contacted: a mock transport answers for it.
PUBLIC = "http://1.1.1.1"

FORMATS = {  # file name -> (encoder, the type its first bytes announce)
    "a.mp3": ("libmp3lame", "audio/mpeg"),
    "a.ogg": ("libopus", "audio/ogg"),
    "a.wav": ("pcm_s16le", "audio/wav"),
    "a.m4a": ("aac", "audio/mp4"),
    "a.flac": ("flac", "audio/flac"),
    "a.webm": ("libopus", "audio/webm"),
    "a.aac": ("aac", "audio/aac"),
}


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Half a second of tone in each container podcasts ship, plus a small silent video."""
    folder = tmp_path_factory.mktemp("audio")
    t = np.arange(8000, dtype=np.float32) / 16_000
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    files = {name: encode(tone, folder / name, codec).read_bytes()
             for name, (codec, _) in FORMATS.items()}  # fmt: skip
    files["v.mp4"] = video_only(folder / "v.mp4").read_bytes()
    return files


def _serve(server: LoopbackHTTPServer, name: str, **route: Any) -> str:
    """A route under a path of its own (the server is shared by the session)."""
    return server.add(f"/dl/{uuid.uuid4().hex[:10]}/{name}", **route)


def _path(url: str) -> str:
    return httpx.URL(url).path


def _files(folder: Path) -> list[Path]:
    return list(folder.iterdir())


async def _partial_file_appears(folder: Path, task: asyncio.Task[object]) -> None:
    for _ in range(250):
        if any(p.stat().st_size > 0 for p in _files(folder)):
            return
        assert not task.done()
        await asyncio.sleep(0.02)
    raise AssertionError("no partial file appeared")


async def _refused(url: str, dest: Path, limits: DownloadLimits = LIMITS) -> ProcessingError:
    with pytest.raises(ProcessingError) as caught:
        await download_enclosure(url, dest, limits)
    assert _files(dest.parent) == []  # nothing at dest, no partial file beside it
    return caught.value


async def test_download_through_a_redirect_then_stage_and_delete(
    feed_server: LoopbackHTTPServer,
    s3_settings: S3Settings,
    tmp_path: Path,
    audio: dict[str, bytes],
) -> None:
    body = audio["a.mp3"]
    target = _serve(feed_server, "episode.mp3", body=body, content_type="audio/MPEG; foo=bar")
    start = _serve(feed_server, "go", status=302, body=b"", headers={"Location": _path(target)})
    dest = tmp_path / "episode.mp3"
    got = await download_enclosure(start, dest, LIMITS)
    assert got.path == dest and dest.read_bytes() == body
    assert got.bytes == len(body)
    assert got.sha256 == hashlib.sha256(body).hexdigest()
    assert got.content_type == "audio/mpeg"
    assert got.final_url == target
    assert _files(tmp_path) == [dest]
    seen = feed_server.hits(_path(target))[0].headers
    assert seen["user-agent"] == LIMITS.user_agent and seen["accept-encoding"] == "identity"

    store = ObjectStore(s3_settings)
    episode_id = str(uuid.uuid4())
    key = await stage_audio(store, episode_id, got)
    assert key == f"audio/{episode_id}.mp3"
    assert store.get_bytes(key) == body
    await delete_staged(store, key)
    assert not store.exists(key)
    await delete_staged(store, key)  # idempotent
    with pytest.raises(ValueError, match="episode id"):
        await stage_audio(store, "../escape", got)


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (404, "enclosure_not_found", False),
        (410, "enclosure_not_found", False),
        (500, "enclosure_http_error", True),
        (503, "enclosure_http_error", True),
        (429, "enclosure_http_error", True),
        (403, "enclosure_http_error", False),
    ],
)
async def test_http_errors(
    feed_server: LoopbackHTTPServer, tmp_path: Path, status: int, code: str, retryable: bool
) -> None:
    url = _serve(feed_server, "e.mp3", status=status, body=b"nope", content_type="text/plain")
    error = await _refused(url, tmp_path / "e.mp3")
    assert (error.code, error.retryable) == (code, retryable)
    assert str(status) in error.message


async def test_too_large_by_content_length_is_refused_before_reading(
    feed_server: LoopbackHTTPServer, tmp_path: Path
) -> None:
    # Reading this body would take 25 s and trip the 2 s limit: only the header can stop it.
    slow = {"drip_s": 0.05, "drip_bytes": 1024}
    url = _serve(feed_server, "big.mp3", body=b"ID3" + bytes(512 * 1024), **slow)
    limits = replace(LIMITS, total_timeout_s=2.0)
    began = time.monotonic()
    error = await _refused(url, tmp_path / "big.mp3", limits)
    assert error.code == "enclosure_too_large" and not error.retryable
    assert time.monotonic() - began < 1.0


async def test_too_large_while_streaming_without_content_length(
    feed_server: LoopbackHTTPServer, tmp_path: Path
) -> None:
    url = _serve(
        feed_server, "big.mp3", body=b"ID3" + bytes(300 * 1024), content_type="audio/mpeg",
        chunked=True,
    )  # fmt: skip
    assert (await _refused(url, tmp_path / "big.mp3")).code == "enclosure_too_large"
    # The same body within the limit arrives whole: the limit, not chunking, refused it.
    bigger = replace(LIMITS, max_bytes=400 * 1024)
    got = await download_enclosure(url, tmp_path / "ok.mp3", bigger)
    assert got.bytes == 3 + 300 * 1024


async def test_server_that_stops_answering_times_out(
    feed_server: LoopbackHTTPServer, tmp_path: Path
) -> None:
    url = _serve(feed_server, "stuck.mp3", body=b"ID3", content_type="audio/mpeg", delay_s=2.5)
    error = await _refused(url, tmp_path / "stuck.mp3")
    assert error.code == "enclosure_timeout" and error.retryable


async def test_slow_drip_hits_the_wall_clock_limit_and_leaves_no_partial_file(
    feed_server: LoopbackHTTPServer, tmp_path: Path
) -> None:
    # Every piece arrives well within the read timeout; only the total limit can stop it.
    url = _serve(
        feed_server, "drip.mp3", body=b"ID3" + bytes(64 * 1024), content_type="audio/mpeg",
        drip_s=0.05, drip_bytes=1024,
    )  # fmt: skip
    limits = replace(LIMITS, total_timeout_s=1.5)
    dest = tmp_path / "drip.mp3"
    task: asyncio.Task[object] = asyncio.create_task(download_enclosure(url, dest, limits))
    await _partial_file_appears(tmp_path, task)
    with pytest.raises(ProcessingError) as caught:
        await task
    assert caught.value.code == "enclosure_timeout" and caught.value.retryable
    assert "1.5 seconds" in caught.value.message
    assert _files(tmp_path) == []


async def test_cancelled_download_leaves_no_partial_file(
    feed_server: LoopbackHTTPServer, tmp_path: Path
) -> None:
    url = _serve(
        feed_server, "drip.mp3", body=b"ID3" + bytes(64 * 1024), content_type="audio/mpeg",
        drip_s=0.05, drip_bytes=1024,
    )  # fmt: skip
    dest = tmp_path / "drip.mp3"
    task: asyncio.Task[object] = asyncio.create_task(download_enclosure(url, dest, LIMITS))
    await _partial_file_appears(tmp_path, task)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _files(tmp_path) == []


@pytest.mark.parametrize(
    ("content_type", "name"),
    [
        ("text/html; charset=utf-8", "a.mp3"),  # declared HTML is refused whatever it holds
        ("application/json", "a.mp3"),
        ("application/octet-stream", "page.html"),  # untyped bytes that are not audio
        ("", "page.html"),
        ("video/mp4", "v.mp4"),  # video is off unless allowed
    ],
)
async def test_not_audio_is_refused(
    feed_server: LoopbackHTTPServer,
    tmp_path: Path,
    audio: dict[str, bytes],
    content_type: str,
    name: str,
) -> None:
    body = audio.get(name, b"<!doctype html><html><body>Episode page</body></html>")
    url = _serve(feed_server, name, body=body, content_type=content_type)
    error = await _refused(url, tmp_path / "x")
    assert error.code == "enclosure_not_audio" and not error.retryable


@pytest.mark.parametrize("name", sorted(FORMATS))
@pytest.mark.parametrize("content_type", ["application/octet-stream", "binary/octet-stream", ""])
async def test_untyped_audio_is_accepted_by_its_first_bytes(
    feed_server: LoopbackHTTPServer,
    tmp_path: Path,
    audio: dict[str, bytes],
    name: str,
    content_type: str,
) -> None:
    url = _serve(feed_server, name, body=audio[name], content_type=content_type)
    got = await download_enclosure(url, tmp_path / name, LIMITS)
    assert got.content_type == FORMATS[name][1]
    assert got.path.read_bytes() == audio[name]


async def test_video_is_accepted_when_allowed(
    feed_server: LoopbackHTTPServer, tmp_path: Path, audio: dict[str, bytes]
) -> None:
    url = _serve(feed_server, "v.mp4", body=audio["v.mp4"], content_type="video/mp4")
    limits = replace(LIMITS, allow_video=True)
    got = await download_enclosure(url, tmp_path / "v.mp4", limits)
    assert got.content_type == "video/mp4" and got.bytes == len(audio["v.mp4"])


async def test_loopback_is_refused_unless_private_hosts_are_allowed(
    feed_server: LoopbackHTTPServer, tmp_path: Path, audio: dict[str, bytes]
) -> None:
    url = _serve(feed_server, "a.mp3", body=audio["a.mp3"], content_type="audio/mpeg")
    strict = replace(LIMITS, allow_private_hosts=False)
    error = await _refused(url, tmp_path / "a.mp3", strict)
    assert error.code == "enclosure_blocked_host" and not error.retryable
    assert feed_server.hits(_path(url)) == []


@pytest.mark.parametrize("allow_private", [False, True])
async def test_redirect_from_a_public_host_to_a_private_one(
    feed_server: LoopbackHTTPServer, tmp_path: Path, audio: dict[str, bytes], allow_private: bool
) -> None:
    private = _serve(feed_server, "a.mp3", body=audio["a.mp3"], content_type="audio/mpeg")
    public = httpx.MockTransport(lambda _: httpx.Response(302, headers={"Location": private}))
    limits = replace(LIMITS, allow_private_hosts=allow_private)
    async with httpx.AsyncClient(mounts={PUBLIC: public}) as client:
        call = download_enclosure(f"{PUBLIC}/ep.mp3", tmp_path / "a.mp3", limits, client=client)
        if allow_private:  # the same path works when the policy allows it
            assert (await call).final_url == private
            return
        with pytest.raises(ProcessingError) as caught:
            await call
    assert caught.value.code == "enclosure_blocked_host"
    assert feed_server.hits(_path(private)) == []  # refused before connecting
    assert _files(tmp_path) == []


async def test_redirect_to_another_scheme_is_refused(tmp_path: Path) -> None:
    public = httpx.MockTransport(
        lambda _: httpx.Response(302, headers={"Location": "file:///etc/passwd"})
    )
    async with httpx.AsyncClient(mounts={PUBLIC: public}) as client:
        with pytest.raises(ProcessingError) as caught:
            await download_enclosure(f"{PUBLIC}/ep.mp3", tmp_path / "a", LIMITS, client=client)
    assert caught.value.code == "enclosure_bad_url" and not caught.value.retryable


async def test_too_many_redirects(feed_server: LoopbackHTTPServer, tmp_path: Path) -> None:
    path = f"/dl/{uuid.uuid4().hex[:10]}/loop"
    url = feed_server.add(path, Route(status=302, body=b"", headers={"Location": path}))
    error = await _refused(url, tmp_path / "loop")
    assert error.code == "enclosure_too_many_redirects"
    assert len(feed_server.hits(path)) == LIMITS.max_redirects + 1


async def test_nothing_listening_is_unreachable(tmp_path: Path) -> None:
    error = await _refused("http://127.0.0.1:9/ep.mp3", tmp_path / "ep.mp3")
    assert error.code == "enclosure_unreachable" and error.retryable


def test_sniffing_bare_frames_and_junk(audio: dict[str, bytes]) -> None:
    mp3 = audio["a.mp3"]
    assert mp3.startswith(b"ID3")
    tag_size = (mp3[6] << 21) | (mp3[7] << 14) | (mp3[8] << 7) | mp3[9]
    assert sniff_audio_type(mp3[10 + tag_size :][:12]) == "audio/mpeg"  # no ID3 tag
    assert sniff_audio_type(audio["a.aac"][:12]) == "audio/aac"
    for junk in (b"", b"\xff", b"\xff\xff\xff\xff", b"<?xml version", b"%PDF-1.7", bytes(12)):
        assert sniff_audio_type(junk) is None


def test_limits_from_settings() -> None:
    for allowed in (False, True):
        settings = Settings.model_validate(
            {"feeds": {"allow_private_hosts": allowed, "user_agent": "UA/1"},
             "models": {"allow_video": allowed},
             "processing": {"max_audio_bytes": 12345, "download_timeout_s": 67.0}}
        )  # fmt: skip
        limits = DownloadLimits.from_settings(settings)
        assert (limits.max_bytes, limits.total_timeout_s) == (12345, 67.0)
        assert limits.read_timeout_s == settings.feeds.read_timeout_s
        assert limits.connect_timeout_s == settings.feeds.connect_timeout_s
        assert limits.max_redirects == settings.feeds.max_redirects
        assert limits.user_agent == "UA/1"
        assert limits.allow_private_hosts is allowed and limits.allow_video is allowed
