"""Search's request timing (``Server-Timing``), single flight and sentence regrouping: the
parts of issue 21's latency work that need no storage."""

from __future__ import annotations

import asyncio
import contextvars

import numpy as np
import pytest

from tellmemore.search import by_passage, passage_sentences, sentences, timing
from tellmemore.search.coalesce import SingleFlight


def test_stages_add_up_and_round_trip_through_the_header() -> None:
    times = timing.start()
    timing.record("embed", 0.010)
    timing.record("embed", 0.005)
    with timing.stage("vector"):
        pass
    parsed = timing.parse_header(times.header())
    assert parsed["embed"] == pytest.approx(15.0)
    assert "vector" in parsed and parsed["app"] >= parsed["vector"]
    assert list(parsed)[-1] == "app"
    with pytest.raises(ValueError, match="stage name"):
        timing.record("bad name;dur=1", 1.0)


async def test_worker_threads_record_into_the_request_that_started_them() -> None:
    times = timing.start()

    def in_thread() -> None:
        timing.record("fts", 0.002)

    await asyncio.to_thread(in_thread)
    assert times.seconds["fts"] == pytest.approx(0.002)


def test_nothing_is_recorded_outside_a_timed_request() -> None:
    def untimed() -> timing.StageTimes | None:
        timing.record("embed", 1.0)  # no request: ignored, no error
        return timing.current()

    assert contextvars.Context().run(untimed) is None


async def test_identical_concurrent_calls_compute_once() -> None:
    flights = SingleFlight()
    calls = 0
    release = asyncio.Event()

    async def compute() -> list[int]:
        nonlocal calls
        calls += 1
        await release.wait()
        return [1, 2, 3]

    waiters = [asyncio.create_task(flights.run("q", compute)) for _ in range(20)]
    other = asyncio.create_task(flights.run("another", compute))
    await asyncio.sleep(0)
    assert flights.in_flight() == 2
    release.set()
    results = await asyncio.gather(*waiters, other)
    assert calls == 2  # one per distinct key
    assert all(r == [1, 2, 3] for r in results)
    assert flights.in_flight() == 0
    await flights.run("q", compute)  # finished flights are not reused: a fresh computation
    assert calls == 3


async def test_every_waiter_gets_the_error_and_a_leaver_cancels_nothing() -> None:
    flights = SingleFlight()
    release = asyncio.Event()

    async def failing() -> int:
        await release.wait()
        raise RuntimeError("storage unreachable")

    leaver = asyncio.create_task(flights.run("q", failing))
    stayers = [asyncio.create_task(flights.run("q", failing)) for _ in range(3)]
    await asyncio.sleep(0)
    leaver.cancel()  # a closed connection
    await asyncio.sleep(0)
    release.set()
    outcomes = await asyncio.gather(*stayers, return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert leaver.cancelled()


def test_sentences_are_regrouped_per_passage() -> None:
    texts = ["One. Two! Three?", "Only one sentence here", "A. B."]
    flat, counts = passage_sentences(texts)
    assert counts == [3, 1, 2] == [len(sentences(t)) for t in texts]
    assert flat[:3] == ["One.", "Two!", "Three?"]
    matrix = np.arange(12, dtype=np.float32).reshape(6, 2)
    groups = by_passage(matrix, counts)
    assert [g.shape for g in groups] == [(3, 2), (1, 2), (2, 2)]
    assert groups[2][0].tolist() == [8.0, 9.0]
    with pytest.raises(ValueError, match="5 sentence vectors for 6 sentences"):
        by_passage(matrix[:5], counts)
