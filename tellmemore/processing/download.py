"""Downloading an episode's audio enclosure safely, and staging it in object storage.

Enclosure URLs come from feeds anyone can publish, so the download goes out the way a feed
fetch does (:mod:`tellmemore.catalog.feeds.outbound`): every redirect hop passes the host
policy and connects to the very address that was checked, the size is capped both by the
declared Content-Length and while streaming, a wall-clock limit bounds the whole transfer, and
the body must be audio, by its declared type or, when the type says nothing, by its first
bytes. The file is written beside ``dest`` and renamed into place only when complete,
so a failure (or a cancellation) never leaves a partial file behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from tellmemore.catalog.feeds.addresses import AddressPolicy
from tellmemore.catalog.feeds.outbound import Outbound, OutboundError, Reply, make_client
from tellmemore.errors import FeedError
from tellmemore.processing.errors import ProcessingError
from tellmemore.settings import Settings
from tellmemore.storage import ObjectStore, StorageError

_TRANSIENT_STATUS = frozenset({408, 425, 429})
# Types that say nothing about the content; the first bytes decide instead.
_UNTYPED = frozenset({"", "application/octet-stream", "binary/octet-stream", "application/ogg"})
_SNIFF_BYTES = 12
_EPISODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_EXTENSIONS = {
    "audio/mpeg": ".mp3", "audio/mp3": ".mp3", "audio/mpeg3": ".mp3", "audio/x-mpeg": ".mp3",
    "audio/mp4": ".m4a", "audio/m4a": ".m4a", "audio/x-m4a": ".m4a", "audio/aac": ".aac",
    "audio/x-aac": ".aac", "audio/aacp": ".aac", "audio/ogg": ".ogg", "audio/opus": ".opus",
    "audio/flac": ".flac", "audio/x-flac": ".flac", "audio/wav": ".wav", "audio/x-wav": ".wav",
    "audio/wave": ".wav", "audio/vnd.wave": ".wav", "audio/webm": ".webm", "video/mp4": ".mp4",
    "video/x-m4v": ".m4v", "video/webm": ".webm", "video/quicktime": ".mov",
}  # fmt: skip


@dataclass(frozen=True)
class DownloadLimits:
    """What one enclosure download may cost, and which hosts and media it may touch."""

    max_bytes: int = 2**30
    # Wall-clock bound on the whole download, redirects included; generous because episodes
    # are large (1 GiB in 15 minutes is about 1.2 MB/s).
    total_timeout_s: float = 900.0
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    max_redirects: int = 5
    allow_private_hosts: bool = False
    allow_video: bool = False
    user_agent: str = "TellMeMore/0.1 (+podcast playlists)"

    @classmethod
    def from_settings(cls, settings: Settings) -> DownloadLimits:
        """Limits from the settings: size and total time from ``processing`` (the feed ones are
        sized for XML), connection behaviour and host policy as for feeds, video as the models
        say."""
        feeds = settings.feeds
        return cls(
            max_bytes=settings.processing.max_audio_bytes,
            total_timeout_s=settings.processing.download_timeout_s,
            connect_timeout_s=feeds.connect_timeout_s,
            read_timeout_s=feeds.read_timeout_s,
            max_redirects=feeds.max_redirects,
            allow_private_hosts=feeds.allow_private_hosts,
            allow_video=settings.models.allow_video,
            user_agent=feeds.user_agent,
        )


@dataclass(frozen=True)
class Downloaded:
    """A complete enclosure on local disk."""

    path: Path
    # The declared audio/video type, or the sniffed one when the server declared nothing useful.
    content_type: str
    bytes: int
    sha256: str
    final_url: str  # after redirects


def make_download_client(
    limits: DownloadLimits, *, verify: ssl.SSLContext | bool = True
) -> httpx.AsyncClient:
    """A client for enclosure traffic; redirects are ours to follow, hop by hop. ``verify`` is
    for tests that trust their own certificate authority."""
    return make_client(
        connect_timeout_s=limits.connect_timeout_s,
        read_timeout_s=limits.read_timeout_s,
        user_agent=limits.user_agent,
        verify=verify,
    )


async def download_enclosure(
    url: str,
    dest: Path,
    limits: DownloadLimits,
    *,
    client: httpx.AsyncClient | None = None,
    addresses: AddressPolicy | None = None,
) -> Downloaded:
    """Download the audio at ``url`` to ``dest`` within ``limits``.

    Raises :class:`ProcessingError` (``enclosure_*`` codes) on any failure, with nothing left at
    ``dest`` or beside it. A ``client`` shared across downloads keeps connections warm; its
    redirect setting is overridden, since every hop must be checked here. ``addresses``
    replaces the host policy made from ``limits`` (a test's resolver).
    """
    part = dest.with_name(f".{dest.name}.part")
    http = client or make_download_client(limits)
    policy = addresses or AddressPolicy(
        allow_private=limits.allow_private_hosts, resolve_timeout_s=limits.connect_timeout_s
    )
    outbound = Outbound(
        http, policy, max_redirects=limits.max_redirects, total_timeout_s=limits.total_timeout_s
    )
    try:
        try:
            downloaded = await _download(url, part, dest, limits, outbound)
        except FeedError as exc:
            raise _url_refused(exc) from exc
        except OutboundError as exc:
            raise _failed(exc, limits) from exc
        part.replace(dest)
        return downloaded
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    finally:
        if client is None:
            await http.aclose()


async def _download(
    url: str, part: Path, dest: Path, limits: DownloadLimits, outbound: Outbound
) -> Downloaded:
    headers = {"User-Agent": limits.user_agent, "Accept": "audio/*, */*;q=0.5",
               "Accept-Encoding": "identity"}  # fmt: skip
    async with outbound.open(url, headers) as reply:
        if reply.response.status_code != 200:
            raise _http_error(reply.response.status_code)
        content_type, size, sha256 = await _save(reply, part, limits)
        return Downloaded(dest, content_type, size, sha256, reply.url)


async def _save(reply: Reply, part: Path, limits: DownloadLimits) -> tuple[str, int, str]:
    """Stream the body to ``part``; returns (content type, size, sha256)."""
    reply.check_length(limits.max_bytes)  # before the type: a huge body is refused unread
    declared = reply.response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    content_type = _accepted_type(declared, limits)  # None: the first bytes decide
    digest = hashlib.sha256()
    size = 0
    head = b""
    out: IO[bytes] | None = None
    try:
        async for chunk in reply.chunks(limits.max_bytes):
            size += len(chunk)
            if out is None:
                head += chunk
                if content_type is None and len(head) < _SNIFF_BYTES:
                    continue
                content_type = content_type or _sniffed_type(head, declared)
                out = await asyncio.to_thread(part.open, "wb")
                chunk, head = head, b""
            await asyncio.to_thread(_write, out, digest, chunk)
        if size == 0:
            raise ProcessingError("enclosure_not_audio", "The enclosure is empty.", retryable=False)
        if out is None:  # the whole body was shorter than the sniffing window
            content_type = content_type or _sniffed_type(head, declared)
            out = await asyncio.to_thread(part.open, "wb")
            await asyncio.to_thread(_write, out, digest, head)
    finally:
        if out is not None:
            out.close()
    assert content_type is not None
    return content_type, size, digest.hexdigest()


def _write(out: IO[bytes], digest: hashlib._Hash, chunk: bytes) -> None:
    out.write(chunk)
    digest.update(chunk)


def _accepted_type(declared: str, limits: DownloadLimits) -> str | None:
    """The declared type when it is acceptable, None when only the bytes can tell."""
    if declared.startswith("audio/"):
        return declared
    if declared.startswith("video/"):
        if limits.allow_video:
            return declared
        raise ProcessingError(
            "enclosure_not_audio",
            f"The enclosure is a video ({declared}), and video is not processed here.",
            retryable=False,
        )
    if declared in _UNTYPED:
        return None
    raise ProcessingError(
        "enclosure_not_audio", f"The enclosure is {declared}, not audio.", retryable=False
    )


def _sniffed_type(head: bytes, declared: str) -> str:
    sniffed = sniff_audio_type(head)
    if sniffed is None:
        said = declared or "no content type"
        raise ProcessingError(
            "enclosure_not_audio",
            f"The enclosure ({said}) does not start like any audio format we know.",
            retryable=False,
        )
    return sniffed


def sniff_audio_type(head: bytes) -> str | None:
    """The audio type that the first bytes of a file announce, or None.

    Knows ID3-tagged and bare MPEG audio, ADTS AAC, RIFF/WAVE, Ogg, FLAC, ISO-BMFF (``ftyp``:
    m4a, which cannot be told from mp4 video this early) and EBML (WebM/Matroska).
    """
    if head.startswith(b"ID3"):
        return "audio/mpeg"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[4:8] == b"ftyp":
        return "audio/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "audio/webm"
    if len(head) >= 3 and head[0] == 0xFF:
        if head[1] & 0xF6 == 0xF0 and (head[2] >> 2) & 0xF < 13:  # ADTS: sync, layer 0
            return "audio/aac"
        version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
        bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
        if head[1] & 0xE0 == 0xE0 and version != 1 and layer != 0 and bitrate != 15 and rate != 3:
            return "audio/mpeg"
    return None


def audio_extension(content_type: str) -> str:
    """A file extension for a media type; stable across machines, so staged keys are too."""
    return _EXTENSIONS.get(content_type, ".bin")


async def stage_audio(store: ObjectStore, episode_id: str, downloaded: Downloaded) -> str:
    """Upload a downloaded enclosure to ``audio/<episode_id><ext>``; returns the key.

    The key depends only on the episode and the media type, so a rerun overwrites rather than
    duplicates.
    """
    if not _EPISODE_ID.fullmatch(episode_id):
        raise ValueError(f"Not a usable episode id for an object key: {episode_id!r}")
    key = f"audio/{episode_id}{audio_extension(downloaded.content_type)}"
    try:
        await asyncio.to_thread(store.upload_file, key, downloaded.path, downloaded.content_type)
    except StorageError as exc:
        raise _storage_failed("audio_stage_failed", exc) from exc
    return key


async def delete_staged(store: ObjectStore, key: str) -> None:
    """Remove staged audio once it is no longer needed; removing it twice is fine."""
    try:
        await asyncio.to_thread(store.delete, key)
    except StorageError as exc:
        raise _storage_failed("audio_delete_failed", exc) from exc


def _url_refused(exc: FeedError) -> ProcessingError:
    if exc.code == "url_host_forbidden":
        return ProcessingError("enclosure_blocked_host", exc.message, retryable=False)
    if exc.code == "feed_unreachable":  # the name did not resolve
        return ProcessingError("enclosure_unreachable", exc.message, retryable=True)
    return ProcessingError("enclosure_bad_url", exc.message, retryable=False)


def _failed(exc: OutboundError, limits: DownloadLimits) -> ProcessingError:
    if exc.reason == "timeout":
        within = f"within {limits.total_timeout_s:g} seconds"
        return ProcessingError(
            "enclosure_timeout", f"The audio did not finish downloading {within}.", retryable=True
        )
    if exc.reason == "stalled":
        return ProcessingError(
            "enclosure_timeout",
            "The audio server stopped answering during the download.",
            retryable=True,
        )
    if exc.reason == "too_many_redirects":
        return ProcessingError(
            "enclosure_too_many_redirects",
            f"The enclosure redirected more than {limits.max_redirects} times.",
            retryable=False,
        )
    if exc.reason == "too_large":
        return _too_large(limits.max_bytes)
    return ProcessingError(
        "enclosure_unreachable",
        f"The audio server could not be reached: {exc.detail}.",
        retryable=True,
    )


def _http_error(status: int) -> ProcessingError:
    if status in (404, 410):
        return ProcessingError(
            "enclosure_not_found",
            f"The audio URL answered {status}: the file is not there (any more).",
            retryable=False,
        )
    return ProcessingError(
        "enclosure_http_error",
        f"The audio server answered with HTTP {status} instead of the file.",
        retryable=status >= 500 or status in _TRANSIENT_STATUS,
    )


def _too_large(limit: int) -> ProcessingError:
    shown = f"{limit / 2**20:g} MiB" if limit >= 2**20 else f"{limit} bytes"
    return ProcessingError(
        "enclosure_too_large",
        f"The audio is larger than the {shown} this server accepts.",
        retryable=False,
    )


def _storage_failed(code: str, exc: StorageError) -> ProcessingError:
    return ProcessingError(code, str(exc), retryable=exc.code != "denied")
