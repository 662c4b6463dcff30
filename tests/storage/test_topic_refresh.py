"""Topic refresh under concurrency and clocks: marks are the database's time (an app clock
hours off neither hides an episode nor shows one twice, and an episode committed late is still
found), one refresh of a playlist at a time, and a refresh that fails midway leaves no lock
behind on a pooled connection."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from tellmemore.search import NO_FILTERS, Highlight, Plan
from tellmemore.search.planner import PlannedItem
from tellmemore.settings import RedisSettings
from tests.conftest import bearer, register
from tests.storage.helpers import rows
from tests.storage.topic_world import Passage, World, open_world
from tests.support.http_server import LoopbackHTTPServer

TOPIC = "cold water swimming"


MakeWorld = Callable[..., AbstractAsyncContextManager[World]]


@pytest.fixture
def make_world(
    database_url: str,
    apple_server: LoopbackHTTPServer,
    redis_settings: RedisSettings,
    tmp_path: Path,
    clean_db: None,
) -> MakeWorld:
    """Opens a world: the API and a process's services over this test's tables (each call
    another process, with pools of its own)."""

    def make(**kwargs: Any) -> AbstractAsyncContextManager[World]:
        return open_world(database_url, apple_server.base_url, redis_settings, tmp_path, **kwargs)

    return make


async def _build(world: World, minutes: int) -> tuple[str, dict[str, Any]]:
    tokens = (await register(world.http))["tokens"]
    response = await world.http.post(
        "/tell-me-more", json={"topic": TOPIC, "minutes": minutes}, headers=bearer(tokens)
    )
    assert response.status_code == 201, response.text
    return response.json()["playlist_id"], tokens


def _grown_episodes(world: World, playlist_id: str) -> list[str]:
    return [i["episode_id"] for i in world.items(playlist_id) if i["grown"]]


# ---- database time on both sides -----------------------------------------------------------


@pytest.mark.parametrize("skew", [timedelta(hours=3), timedelta(hours=-3)], ids=["ahead", "behind"])
async def test_an_app_clock_hours_off_misses_nothing_and_repeats_nothing(
    make_world: MakeWorld, skew: timedelta
) -> None:
    def skewed() -> datetime:
        return datetime.now(UTC) + skew

    async with make_world(clock=skewed) as world:
        show = world.podcast("Open Water")
        old = await world.episode(show, "Winter dips", [
            Passage("Cold water swimming: get in slowly and breathe out long."), None,
            Passage("Cold water swimming: gloves and socks buy you ten minutes."), None,
            Passage("Cold water swimming: warm up with a hot drink, not a hot shower."),
        ])  # fmt: skip
        playlist_id, _ = await _build(world, minutes=1)  # one passage of three
        assert [i["episode_id"] for i in world.items(playlist_id)] == [old]
        new = await world.episode(show, "The first swim of spring", [
            Passage("Cold water swimming: lakes stay cold long after the air warms."),
        ])  # fmt: skip

        report = await world.services.topics.refresh_all()
        # Missed nothing: the episode processed after the build went in...
        assert _grown_episodes(world, playlist_id) == [new]
        # ...and repeated nothing: the episode the build already weighed was not searched again.
        assert report.items_added == 1
        assert (await world.services.topics.refresh_all()).items_added == 0


async def test_an_episode_committed_after_a_refresh_began_is_found_by_the_next(
    make_world: MakeWorld,
) -> None:
    """``processed_at`` is the processing transaction's start; if it commits after a refresh
    took its mark, the mark must not have passed it."""
    async with make_world() as world:
        show = world.podcast("Open Water")
        await world.episode(
            show, "Winter dips", [Passage("Cold water swimming: breathe out long.")]
        )
        playlist_id, _ = await _build(world, minutes=3)
        late = await world.episode(
            show, "Ice miles", [Passage("Cold water swimming: an ice mile is under five degrees.")],
            done=False,
        )  # fmt: skip
        with psycopg.connect(world.database_url) as processing:
            processing.execute(
                "UPDATE episodes SET status = 'done', processed_at = now() WHERE id = %s",
                (late,),
            )  # not committed yet: the processor is still finishing the episode
            await asyncio.sleep(0.05)
            early = await world.episode(
                show, "Sea swims", [Passage("Cold water swimming: mind the tides and the rips.")]
            )
            await world.services.topics.refresh_all()
            processing.commit()
        await world.services.topics.refresh_all()
        assert sorted(_grown_episodes(world, playlist_id)) == sorted([late, early])


# ---- the lock -------------------------------------------------------------------------------


class _Planner:
    """Stands for the planner in lock tests: one fixed item per new episode, or a failure."""

    def __init__(self, *, fail: bool = False, pause_s: float = 0.0) -> None:
        self._fail = fail
        self._pause_s = pause_s
        self.inside = 0
        self.most_inside = 0
        self.started: dict[str, asyncio.Event] = {}
        self.wait_for: dict[str, str] = {}  # topic -> the topic it waits to see started

    async def plan(self, topic: str, minutes: float, **options: Any) -> Plan:
        if self._fail:
            _FAULT.on = True  # the refresh breaks here, and its statements with it
            raise RuntimeError("the search index went away")
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        self.started.setdefault(topic, asyncio.Event()).set()
        try:
            other = self.wait_for.get(topic)
            if other is not None:
                event = self.started.setdefault(other, asyncio.Event())
                await asyncio.wait_for(event.wait(), timeout=5)
            await asyncio.sleep(self._pause_s)
        finally:
            self.inside -= 1
        episode_ids = list(options["filters"].episode_ids)
        return Plan(topic, minutes * 60.0, tuple(self._item(e) for e in episode_ids))

    def _item(self, episode_id: str) -> PlannedItem:
        return PlannedItem(
            episode_id=episode_id, podcast_id="p", episode_title="t", podcast_title="s",
            start_s=0.0, end_s=60.0, segment_ids=(f"{episode_id}:00000",),
            reason=Highlight("a passage", (), 0.0), similarity=0.9, summary=None,
        )  # fmt: skip


class _Fault:
    on = False


_FAULT = _Fault()


@pytest.fixture
def faulty_statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Fault]:
    """While ``_FAULT.on``, every ``execute`` on a connection fails, as on a connection gone
    bad; committing and rolling back still work."""
    real = psycopg.AsyncConnection.execute

    async def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _FAULT.on:
            raise psycopg.OperationalError("the connection went bad")
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncConnection, "execute", execute)
    yield _FAULT
    _FAULT.on = False


async def _topic_playlist(world: World, owner_id: UUID, topic: str) -> UUID:
    """A saved topic playlist with nothing in it yet, marked as of the database's now."""
    as_of = rows(world.database_url, "SELECT statement_timestamp() AS t")[0]["t"]
    playlist = await world.services.topics.save(
        owner_id, Plan(topic, 180.0, ()), title=None, filters=NO_FILTERS, minutes=3,
        skip_heard=False, as_of=as_of,
    )  # fmt: skip
    return playlist.id


def _advisory_locks(database_url: str) -> list[dict[str, Any]]:
    return rows(
        database_url,
        "SELECT l.pid, a.state FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.database ="
        " (SELECT oid FROM pg_database WHERE datname = current_database())",
    )


async def test_a_refresh_that_fails_midway_leaves_no_lock_behind(
    make_world: MakeWorld, faulty_statements: _Fault
) -> None:
    async with make_world() as world:
        owner = UUID((await register(world.http))["user"]["id"])
        playlist_id = await _topic_playlist(world, owner, TOPIC)
        show = world.podcast("Open Water")
        await world.episode(show, "Winter dips", [Passage("Cold water swimming: breathe out.")])
        world.services.topics.planner = _Planner(fail=True)  # type: ignore[assignment]
        # The refresh's own error, or the one of a clean-up statement that failed after it.
        with pytest.raises((RuntimeError, psycopg.OperationalError)):
            await world.services.topics.refresh_all()
        faulty_statements.on = False

        assert _advisory_locks(world.database_url) == []  # nothing held by a pooled connection
        # Another process refreshes the same playlist, and is not kept waiting.
        async with make_world() as other:
            other.services.topics.planner = _Planner()  # type: ignore[assignment]
            report = await asyncio.wait_for(other.services.topics.refresh_all(), timeout=10)
        assert report.items_added == 1
        assert len(world.items(str(playlist_id))) == 1


async def test_one_refresh_of_a_playlist_at_a_time_and_others_side_by_side(
    make_world: MakeWorld,
) -> None:
    async with make_world() as one, make_world() as two:  # two processes, two pools
        owner = UUID((await register(one.http))["user"]["id"])
        same = await _topic_playlist(one, owner, TOPIC)
        alpha = await _topic_playlist(one, owner, "alpha")
        beta = await _topic_playlist(one, owner, "beta")
        show = one.podcast("Open Water")
        await one.episode(show, "Winter dips", [Passage("Cold water swimming: breathe out.")])

        planner = _Planner(pause_s=0.3)
        for world in (one, two):
            world.services.topics.planner = planner  # type: ignore[assignment]
        added = await asyncio.gather(
            one.services.topics.refresh(same, owner), two.services.topics.refresh(same, owner)
        )
        assert sorted(added) == [0, 1] and planner.most_inside == 1
        assert len(one.items(str(same))) == 1  # added once

        # Two playlists refresh at once: each one's planner waits to see the other's start.
        planner = _Planner()
        planner.wait_for = {"alpha": "beta", "beta": "alpha"}
        for world in (one, two):
            world.services.topics.planner = planner  # type: ignore[assignment]
        added = await asyncio.gather(
            one.services.topics.refresh(alpha, owner), two.services.topics.refresh(beta, owner)
        )
        assert list(added) == [1, 1] and planner.most_inside == 2
        assert _advisory_locks(one.database_url) == []
