"""Topic-true passages on the labelled topic-shift set (``tellmemore.research.topic_shifts``):
the real embedder cuts the test half's episodes, a real LanceDB index holds them, and the real
search engine and tell-me-more planner answer its topics.

Figures on this half with the length segmenter and the floor before them (the first
version, measured with ``python -m bench.topic_passages --half test``): time precision 0.430,
section recall 0.727, search nDCG@10 0.571, 667 s of playlists for topics the catalog does
not have. With the topic segmenter and the new floor: 0.613, 0.818, 0.676 and 58 s; with
items trimmed to their topic's sentences (``tellmemore.search.trim``): 0.653, 0.795, 0.676
and 58 s.
The issue's targets (precision >= 0.8, recall >= 0.9) are held in a strict xfail
until reached, so the day they are the test says so.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from models.embedder import Embedder
from tellmemore.index import SegmentStore, connect
from tellmemore.research.topic_eval import TopicQuality, by_topic, measure, store_episodes
from tellmemore.research.topic_shifts import load_topic_shifts
from tellmemore.search import SearchEngine, TopicPlanner
from tellmemore.settings import LanceSettings, S3Settings, SearchSettings

pytestmark = pytest.mark.models

LENGTH_NDCG = 0.571  # the length segmenter's search nDCG@10 on this half (module docstring)
LENGTH_PRECISION = 0.430


class _SharedModel:
    """The session's embedder behind search's port, so the model loads once."""

    def __init__(self, model: Embedder) -> None:
        self._model = model

    @property
    def model_id(self) -> str:
        return self._model.model.id

    async def embed_queries(self, texts: Any, space: Any = None) -> Any:
        return await asyncio.to_thread(lambda: self._model.embed_queries(list(texts)).vectors)

    async def embed_passages(self, texts: Any, space: Any = None) -> Any:
        return await asyncio.to_thread(lambda: self._model.embed_passages(list(texts)).vectors)


@pytest.fixture(scope="module")
def quality(embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> TopicQuality:
    shifts = load_topic_shifts("test")
    folder: Path = tmp_path_factory.mktemp("topic-index")
    db = connect(LanceSettings(location=str(folder), prefix="t"), S3Settings())
    passages = store_episodes(shifts, SegmentStore(db, embedder.dimension), embedder,
                              by_topic(embedder))  # fmt: skip
    settings = SearchSettings()
    engine = SearchEngine(db, _SharedModel(embedder), settings)
    return asyncio.run(measure(shifts, engine, TopicPlanner(engine, settings), passages))


def test_passages_follow_topics_within_the_bounds(quality: TopicQuality) -> None:
    assert 20.0 <= quality.mean_passage_s <= 120.0


def test_search_ranks_no_worse_than_with_length_cuts(quality: TopicQuality) -> None:
    assert quality.ndcg_at_10 >= LENGTH_NDCG


def test_playlists_play_more_of_their_topic_and_nothing_for_absent_topics(
    quality: TopicQuality,
) -> None:
    # 667 s before; "dense star clusters" still draws one astronomy passage by meaning
    assert quality.off_catalog_s <= 120.0, [t for t in quality.per_topic if t[1] == 0.0]
    assert quality.time_precision >= LENGTH_PRECISION + 0.1
    assert quality.section_recall >= 0.75


@pytest.mark.xfail(strict=True, reason="issue 21's targets: not reached with all-MiniLM-L6-v2")
def test_playlists_reach_the_issue_targets(quality: TopicQuality) -> None:
    assert quality.time_precision >= 0.8
    assert quality.section_recall >= 0.9
