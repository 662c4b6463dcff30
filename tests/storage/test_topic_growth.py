"""A topic playlist grows under the rules it was built by: no near-duplicates (of what it
holds, nor among the new passages), nothing under the relevance floor, the owner's heard
passages left out where the playlist asks, and at most its minutes per growth.

The world: one passage ("the taper") published by six feeds that share the audio file, so
every copy has the identical vector (cosine 1.0), next to distinct relevant passages, one the
owner has heard and one off the topic, all embedded by the real model: the topic's cosine to
the relevant ones is 0.64-0.82, to the sponsor's read 0.06, and no two distinct passages are
closer than 0.74.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import bearer, register
from tests.storage.topic_world import Passage, World, open_world, segment_ids
from tests.support.http_server import LoopbackHTTPServer

TOPIC = "tapering before race day"
MINUTES = 3
NEAR_DUPLICATE = 0.92  # search.near_duplicate_similarity's default
SHARED_AUDIO = "https://cdn.example.org/shared/taper-talk.mp3"

TAPER = Passage("Tapering before race day: cut the weekly volume by a third in the last fortnight.")
KEEP_SHARP = Passage(
    "While you taper before the race, keep a few short fast efforts so the legs stay sharp."
)
CARBS = Passage(
    "Tapering before race day: load carbohydrates over the final three evenings of the taper."
)
SLEEP = Passage(
    "Bank sleep in the week of your taper; nerves before race day cost you the last night."
)
SHOES = Passage("On race day wear the shoes you trained in during the taper, never new ones.")
HEARD = Passage(
    "Tapering before race day ends with walking the course the evening before to settle the nerves."
)
OFF_TOPIC = Passage("Our sponsor makes mattresses for every budget.")


@pytest.fixture
async def world(
    database_url: str,
    apple_server: LoopbackHTTPServer,
    redis_settings: Any,
    tmp_path: Path,
    clean_db: None,
) -> AsyncIterator[World]:
    async with open_world(database_url, apple_server.base_url, redis_settings, tmp_path) as w:
        yield w


async def _build(world: World, tokens: dict[str, Any], *, skip_heard: bool) -> str:
    response = await world.http.post(
        "/tell-me-more",
        json={"topic": TOPIC, "minutes": MINUTES, "skip_heard": skip_heard},
        headers=bearer(tokens),
    )
    assert response.status_code == 201, response.text
    playlist_id: str = response.json()["playlist_id"]
    return playlist_id


def _near_duplicates(world: World, items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Pairs of passages in different items at cosine >= the veto."""
    by_item = [(i, s) for i, item in enumerate(items) for s in segment_ids([item])]
    return [
        (a, b)
        for (i, a), (j, b) in combinations(by_item, 2)
        if i != j and float(np.dot(world.vectors[a], world.vectors[b])) >= NEAR_DUPLICATE
    ]


async def test_growth_keeps_the_build_rules_when_feeds_share_an_audio_file(world: World) -> None:
    registered = await register(world.http)
    tokens = registered["tokens"]
    first = world.podcast("Marathon Minds")
    built_from = await world.episode(first, "Taper talk", [TAPER, KEEP_SHARP], audio=SHARED_AUDIO)
    skipping = await _build(world, tokens, skip_heard=True)
    keeping = await _build(world, tokens, skip_heard=False)
    taper = f"{built_from}:00000"
    for playlist_id in (skipping, keeping):
        assert taper in segment_ids(world.items(playlist_id))  # the passage every feed repeats

    # Five more feeds publish the same file; two of them carry another shared passage too.
    feeds = [world.podcast(f"Running Feed {n}") for n in range(5)]
    rich = await world.episode(
        feeds[0], "Taper talk (rebroadcast)", [TAPER, CARBS, None, SLEEP, None, SHOES],
        audio=SHARED_AUDIO,
    )  # fmt: skip
    twin = await world.episode(feeds[1], "Taper talk", [TAPER, CARBS], audio=SHARED_AUDIO)
    heard = await world.episode(feeds[2], "Taper talk", [TAPER, HEARD], audio=SHARED_AUDIO)
    off = await world.episode(feeds[3], "Taper talk", [TAPER, OFF_TOPIC], audio=SHARED_AUDIO)
    last = await world.episode(feeds[4], "Taper talk", [TAPER], audio=SHARED_AUDIO)
    marked = await world.http.post(
        "/me/history",
        json={"episode_id": heard, "start_s": 60.0, "end_s": 120.0},
        headers=bearer(tokens),
    )
    assert marked.status_code == 201, marked.text

    report = await world.services.topics.refresh_all()
    assert report.playlists == 2 and report.items_added > 0

    for playlist_id in (skipping, keeping):
        items = world.items(playlist_id)
        grown = [i for i in items if i["grown"]]
        assert grown, playlist_id
        # No near-duplicate anywhere: not of what the playlist held, not among the new ones.
        assert _near_duplicates(world, items) == [], playlist_id
        # The length budget: at most the playlist's minutes (10 % over) per growth.
        assert sum(i["end_s"] - i["start_s"] for i in grown) <= MINUTES * 60 * 1.1
        # The relevance floor.
        assert f"{off}:00001" not in segment_ids(items)
        assert {i["episode_id"] for i in grown} <= {rich, twin, heard, off, last}
    # Skip-heard where the playlist asks for it, and only there.
    assert f"{heard}:00001" not in segment_ids(world.items(skipping))
    assert f"{heard}:00001" in segment_ids(world.items(keeping))
    # One of the two copies of the other shared passage went in (the veto left the other).
    for playlist_id in (skipping, keeping):
        held = segment_ids(world.items(playlist_id))
        carbs = world.vector(CARBS)
        assert sum(float(np.dot(world.vectors[s], carbs)) > 0.999 for s in held) == 1

    again = await world.services.topics.refresh_all()
    assert again.items_added == 0  # the same episodes add nothing twice
