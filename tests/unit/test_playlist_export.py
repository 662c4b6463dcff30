"""The export renderers (JSON, M3U, RSS) and the heard-range rules, as pure functions."""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from defusedxml import ElementTree as SafeET

from tellmemore.playlists import (
    WHOLE_EPISODE,
    Playlist,
    PlaylistItem,
    export,
    is_heard,
    merge_ranges,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
PODCAST_NS = "{https://podcastindex.org/namespace/1.0}"
ITUNES_NS = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"

PLAYLIST = Playlist(
    id=uuid.UUID(int=1), owner_id=uuid.UUID(int=2), title='Genes & "editing" <live>',
    description="Notes\x00 with a NUL", visibility="public", share_token="s" * 22,
    kind="manual", topic=None, skip_heard=False, refreshed_at=None, version=7, item_count=3,
    created_at=NOW, updated_at=NOW,
)  # fmt: skip

WHOLE = PlaylistItem(
    id=uuid.UUID(int=10), playlist_id=PLAYLIST.id, position=0, episode_id=uuid.UUID(int=20),
    start_s=None, end_s=None, note=None, segment_id=None, reason=None, summary=None, score=None,
    added_by="user", added_at=NOW, episode_title="Episode <one> & two",
    episode_link="https://example.org/ep1", published_at=NOW, episode_duration_s=2710.0,
    enclosure_url="https://media.example.org/get/0042.mp3?x=1&y=2", enclosure_type="audio/mpeg",
    enclosure_length=43210987, image_url=None, podcast_id=uuid.UUID(int=30),
    podcast_title="Gene Editing Today",
)  # fmt: skip
RANGE = replace(
    WHOLE, id=uuid.UUID(int=11), position=1, start_s=750.0, end_s=900.25,
    note="Listen for </description> and ]]> here", reason="…base editors…",
    enclosure_url="https://media.example.org/get/0041.mp3#old-fragment",
)  # fmt: skip


def test_seconds_and_clock() -> None:
    assert [export.seconds(v) for v in (0, 750.0, 12.5, 1 / 3)] == ["0", "750", "12.5", "0.333"]
    assert [export.clock(v) for v in (5, 750, 3723.4)] == ["0:05", "12:30", "1:02:03"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://m.example.org/a.mp3", "https://m.example.org/a.mp3"),
        ("HTTP://m.example.org/a b.mp3#frag", "http://m.example.org/a%20b.mp3"),
        ("https://m.example.org/a.mp3\n#EXTINF:0,evil", "https://m.example.org/a.mp3%0A"),
        ("https://m.example.org/é.mp3", "https://m.example.org/%C3%A9.mp3"),
        ("file:///etc/passwd", None),
        ("javascript:alert(1)", None),
        ("//m.example.org/a.mp3", None),
        ("", None),
        (None, None),
    ],
)
def test_only_plain_http_links_are_exported(url: str | None, expected: str | None) -> None:
    assert export.http_url(url) == expected


def test_media_fragments() -> None:
    assert export.media_url(WHOLE) == "https://media.example.org/get/0042.mp3?x=1&y=2"
    # A range replaces whatever fragment the feed's URL had.
    assert export.media_url(RANGE) == "https://media.example.org/get/0041.mp3#t=750,900.25"
    assert export.media_url(replace(RANGE, enclosure_url=None)) is None


def test_json_document() -> None:
    document = export.to_json(PLAYLIST, [WHOLE, RANGE], exported_at=NOW)
    assert json.loads(json.dumps(document)) == document  # plain JSON types only
    assert document["format"] == "tellmemore.playlist/1"
    assert document["playlist"]["version"] == 7
    assert "share_token" not in document["playlist"] and "owner_id" not in document["playlist"]
    second = document["items"][1]
    assert (second["start_s"], second["end_s"], second["duration_s"]) == (750.0, 900.25, 150.25)
    assert second["media_url"].endswith("#t=750,900.25")
    assert document["items"][0]["duration_s"] == 2710.0


def test_m3u() -> None:
    evil = replace(
        WHOLE, id=uuid.UUID(int=12), position=2, episode_title="Two\nhttps://evil.example/x.mp3",
        podcast_title="Pod\r\n#EXTINF:1,", episode_duration_s=None,
    )  # fmt: skip
    local = replace(WHOLE, id=uuid.UUID(int=13), enclosure_url="file:///etc/passwd")
    text = export.to_m3u(PLAYLIST, [WHOLE, RANGE, evil, local])
    assert text.splitlines() == [
        "#EXTM3U",
        '#PLAYLIST:Genes & "editing" <live>',
        "#EXTINF:2710,Gene Editing Today — Episode <one> & two",
        "https://media.example.org/get/0042.mp3?x=1&y=2",
        "#EXTINF:150,Gene Editing Today — Episode <one> & two",
        "#EXTVLCOPT:start-time=750",
        "#EXTVLCOPT:stop-time=900.25",
        "https://media.example.org/get/0041.mp3#t=750,900.25",
        # Line breaks in titles cannot start a line of their own; unknown length is -1.
        "#EXTINF:-1,Pod #EXTINF:1, — Two https://evil.example/x.mp3",
        "https://media.example.org/get/0042.mp3?x=1&y=2",
    ]
    assert text.endswith("\n")


def test_rss_is_valid_escaped_xml() -> None:
    feed = export.to_rss(
        PLAYLIST,
        [WHOLE, RANGE, replace(WHOLE, id=uuid.UUID(int=14), enclosure_url=None)],
        link="https://api.example.org/playlists/1",
        self_url="https://api.example.org/playlists/1/export?format=rss&x=<y>",
        built_at=NOW,
    )
    assert feed.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = SafeET.fromstring(feed)
    assert (root.tag, root.get("version")) == ("rss", "2.0")
    channel = root.find("channel")
    assert channel is not None
    assert channel.findtext("title") == 'Genes & "editing" <live>'
    assert channel.findtext("description") == "Notes with a NUL"  # XML cannot carry NUL at all
    assert channel.findtext("lastBuildDate") == "Wed, 01 May 2024 12:00:00 +0000"
    assert channel.find(f"{ITUNES_NS}block") is None  # public: directories may list it
    atom = channel.find("{http://www.w3.org/2005/Atom}link")
    assert atom is not None and atom.get("href", "").endswith("x=<y>")
    items = channel.findall("item")
    assert len(items) == 2  # the one without audio is left out
    whole, ranged = items
    enclosure = whole.find("enclosure")
    assert enclosure is not None
    assert enclosure.attrib == {
        "url": "https://media.example.org/get/0042.mp3?x=1&y=2",
        "type": "audio/mpeg",
        "length": "43210987",
    }
    assert whole.find(f"{PODCAST_NS}soundbite") is None
    assert whole.findtext(f"{ITUNES_NS}episode") == "1"
    guid = ranged.find("guid")
    assert guid is not None and guid.get("isPermaLink") == "false"
    assert guid.text == f"tellmemore:playlist-item:{RANGE.id}"
    assert ranged.findtext("title") == "Episode <one> & two (12:30\u201315:00)"
    soundbite = ranged.find(f"{PODCAST_NS}soundbite")
    assert soundbite is not None
    assert soundbite.attrib == {"startTime": "750", "duration": "150.25"}
    description = ranged.findtext("description") or ""
    assert description.startswith("12:30 to 15:00 of “Episode <one> & two”")
    assert "Listen for </description> and ]]> here" in description
    assert ranged.findtext(f"{ITUNES_NS}duration") == "150"
    assert ranged.findtext(f"{ITUNES_NS}episode") == "2"


def test_rss_of_a_private_link_asks_directories_to_keep_out() -> None:
    feed = export.to_rss(replace(PLAYLIST, visibility="unlisted"), [], link="l", self_url="s",
                         built_at=NOW)  # fmt: skip
    assert SafeET.fromstring(feed).findtext(f"channel/{ITUNES_NS}block") == "Yes"


def test_filename() -> None:
    assert export.filename(PLAYLIST, "m3u") == "genes-editing-live.m3u"
    assert export.filename(replace(PLAYLIST, title="«»"), "m3u") == "playlist.m3u"


# ---- what counts as heard ------------------------------------------------------------------


def test_merge_ranges() -> None:
    assert merge_ranges([(50, 60), (10, 20), (15, 30), (30, 40)]) == [(10, 40), (50, 60)]
    assert merge_ranges([(5, 6), WHOLE_EPISODE]) == [(0.0, math.inf)]
    assert merge_ranges([]) == []


@pytest.mark.parametrize(
    ("start", "end", "duration", "heard", "expected"),
    [
        (100.0, 200.0, 600.0, [(100.0, 200.0)], True),
        (100.0, 200.0, 600.0, [(90.0, 150.0)], False),
        (100.0, 200.0, 600.0, [(100.5, 199.6)], True),  # under a second missed, rounding
        (1.0, 3.0, 600.0, [(1.0, 2.5)], False),  # ... but never a tenth of the range
        (100.0, 200.0, None, [WHOLE_EPISODE], True),
        (None, None, 600.0, [(0.0, 540.0)], True),  # 90% of the episode
        (None, None, 600.0, [(0.0, 539.0)], False),
        (None, None, 600.0, [(0.0, 300.0), (301.0, 600.0)], True),
        (None, None, None, [(0.0, 10_000.0)], False),  # no duration: only a whole mark
        (None, None, None, [WHOLE_EPISODE], True),
        (None, None, 0.0, [], False),
        (None, None, 600.0, [], False),
    ],
)
def test_is_heard(
    start: float | None,
    end: float | None,
    duration: float | None,
    heard: list[tuple[float, float]],
    expected: bool,
) -> None:
    assert is_heard(start, end, duration, merge_ranges(heard)) is expected
