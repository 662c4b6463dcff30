"""Search indexes per embedding space: deterministic names, and readers that look the active
index up at a bounded rate."""

from __future__ import annotations

import asyncio

from models.settings import EmbedderSettings
from tellmemore.index import ActiveIndex, SearchIndex, index_for, space_of, with_runtime


def test_the_default_space_keeps_the_historical_table_names() -> None:
    default = index_for(EmbedderSettings(device="cuda", batch_size=256))
    assert (default.name, default.segments_table, default.summaries_table) == (
        "default", "segments", "episode_summaries",
    )  # fmt: skip


def test_other_spaces_get_stable_distinct_names() -> None:
    e5 = EmbedderSettings(model="intfloat/e5-base-v2", query_prefix="query: ",
                          passage_prefix="passage: ")  # fmt: skip
    first, again = index_for(e5), index_for(e5.model_copy(update={"device": "cuda"}))
    assert first == again  # device and batch size do not change vectors
    assert (
        first.name.startswith("e5_base_v2_") and first.segments_table == f"segments__{first.name}"
    )
    other = index_for(e5.model_copy(update={"passage_prefix": ""}))
    assert other.name != first.name
    assert space_of(e5).device == EmbedderSettings().device


def test_with_runtime_keeps_the_space_and_takes_the_process_device() -> None:
    index = index_for(EmbedderSettings(passage_prefix="p: "))
    runtime = with_runtime(index, EmbedderSettings(device="cuda", batch_size=7))
    assert (runtime.passage_prefix, runtime.device, runtime.batch_size) == ("p: ", "cuda", 7)


def test_the_active_index_is_looked_up_at_most_every_ttl() -> None:
    now = [0.0]
    answers: list[SearchIndex | None] = [None, index_for(EmbedderSettings(query_prefix="q: "))]
    calls = []

    async def lookup() -> SearchIndex | None:
        calls.append(now[0])
        return answers[min(len(calls) - 1, 1)]

    active = ActiveIndex(lookup, EmbedderSettings(), ttl_s=2.0, clock=lambda: now[0])
    assert asyncio.run(active.current()).name == "default"  # nothing recorded: own space
    now[0] = 1.0
    assert asyncio.run(active.current()).name == "default"  # cached
    now[0] = 2.5
    assert asyncio.run(active.current()).name == answers[1].name  # type: ignore[union-attr]
    assert calls == [0.0, 2.5]
    active.forget()
    asyncio.run(active.current())
    assert len(calls) == 3
