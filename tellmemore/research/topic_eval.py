"""How topic-true passages and tell-me-more playlists are, on the topic-shift set.

:mod:`tellmemore.research.topic_shifts` gives episodes with known topic changes and graded
labels placed in time. Here they are cut by a segmenter under test, embedded with the real
model, written to a real LanceDB index, and measured through the real search engine and
playlist planner:

- **time precision**: of all the seconds the playlists play, the share inside passages labelled
  relevant (grade 1 or 2) to the playlist's topic; topics nothing in the catalog is about add
  their seconds as wrong ones (the whole playlist should be empty);
- **section recall**: the share of passages that directly answer a topic (grade 2) that a
  playlist covers for at least half their length;
- **search nDCG@10**: each hybrid search hit judged as the labelled passage making up most of
  it (so a passage found in two halves counts once), against the corpus's grades.

Each playlist asks for 1.5 times the labelled minutes (at least one): room that an over-eager
relevance floor fills with off-topic passages.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from models.embedder import Embedder
from models.segmenter import embed_sentences, segment_transcript
from models.types import ModelRef, RetrievalSegment, Summary
from tellmemore.index import EpisodeMeta, SegmentStore
from tellmemore.research.metrics import mean, ndcg_at_k
from tellmemore.research.topic_shifts import PlacedPassage, ShiftEpisode, TopicShiftSet
from tellmemore.search import (
    SearchEngine,
    SearchMode,
    TopicPlanner,
    by_passage,
    passage_sentences,
)

Segmenter = Callable[[ShiftEpisode], list[RetrievalSegment]]
_SUMMARIZER = ModelRef("llm", "topic-shifts-opening", "1")
_COVERED = 0.5
_BUDGET = 1.5
_OFF_CATALOG_MINUTES = 5.0


def by_length() -> Segmenter:
    """The first segmenter: 45-120 s by length alone."""
    return lambda episode: segment_transcript(episode.transcript, episode.id)


def by_topic(embedder: Embedder) -> Segmenter:
    """The topic segmenter, fed sentence vectors from ``embedder`` (batched per episode)."""

    def segment(episode: ShiftEpisode) -> list[RetrievalSegment]:
        vectors = embed_sentences(embedder.embed_passages, episode.transcript)
        return segment_transcript(episode.transcript, episode.id, sentence_vectors=vectors)

    return segment


@dataclass(frozen=True)
class TopicQuality:
    passages: int
    mean_passage_s: float
    time_precision: float
    section_recall: float
    ndcg_at_10: float
    off_catalog_s: float
    per_topic: tuple[tuple[str, float, float], ...]  # (topic, precision, recall)


def store_episodes(
    shifts: TopicShiftSet, store: SegmentStore, embedder: Embedder, segment: Segmenter
) -> list[RetrievalSegment]:
    """Cut every episode with ``segment``, embed the passages and their sentences and write
    them (and a stand-in summary, the opening) to ``store``; returns all passages."""
    everything: list[RetrievalSegment] = []
    for episode in shifts.episodes:
        passages = segment(episode)
        summary = Summary(passages[0].text[:600], (), (), _SUMMARIZER)
        embedded = embedder.embed_passages([*(p.text for p in passages), summary.summary])
        # Each passage's sentence vectors, as processing stores them (highlights, trimming).
        flat, counts = passage_sentences([p.text for p in passages])
        sentence_vectors = by_passage(embedder.embed_passages(flat).vectors, counts)
        meta = EpisodeMeta(
            episode_id=episode.id,
            podcast_id=episode.podcast_id,
            episode_title=episode.title,
            podcast_title=episode.podcast_id,
            published_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        store.write_episode(
            meta,
            passages,
            embedded.vectors[:-1],
            summary,
            embedded.vectors[-1],
            embedding_model=embedded.model,
            sentence_vectors=sentence_vectors,
        )
        everything.extend(passages)
    return everything


async def measure(
    shifts: TopicShiftSet,
    engine: SearchEngine,
    planner: TopicPlanner,
    passages: Sequence[RetrievalSegment],
) -> TopicQuality:
    placed = shifts.placed
    by_episode: dict[str, list[PlacedPassage]] = {}
    for p in placed.values():
        by_episode.setdefault(p.episode_id, []).append(p)
    played = relevant_played = 0.0
    covered = wanted = 0
    per_topic: list[tuple[str, float, float]] = []
    ndcgs: list[float] = []
    for query in shifts.queries:
        spans = [(placed[pid], grade) for pid, grade in query.relevant.items()]
        labelled_s = sum(p.end_s - p.start_s for p, _ in spans)
        minutes = max(1.0, math.ceil(labelled_s * _BUDGET / 60.0))
        plan = await planner.plan(query.query, minutes)
        items = [(i.episode_id, i.start_s, i.end_s) for i in plan.items]
        seconds = sum(end - start for _, start, end in items)
        inside = sum(_overlap(items, p.episode_id, p.start_s, p.end_s) for p, _ in spans)
        answered = [p for p, grade in spans if grade == 2]
        hit = sum(
            _overlap(items, p.episode_id, p.start_s, p.end_s) >= _COVERED * (p.end_s - p.start_s)
            for p in answered
        )
        played += seconds
        relevant_played += inside
        covered += hit
        wanted += len(answered)
        per_topic.append(
            (
                query.query,
                inside / seconds if seconds else 1.0,
                hit / len(answered) if answered else 1.0,
            )
        )
        hits = await engine.search_segments(
            query.query, mode=SearchMode.HYBRID, limit=10, with_highlights=False
        )
        ranked = [_main_passage(by_episode, h.episode_id, h.start_s, h.end_s) for h in hits]
        ndcgs.append(ndcg_at_k([r for r in ranked if r], query.relevant, 10))
    off = 0.0
    for topic in shifts.off_catalog:
        plan = await planner.plan(topic, _OFF_CATALOG_MINUTES)
        off += plan.total_s
        per_topic.append((topic, 0.0 if plan.items else 1.0, 1.0))
    played += off
    lengths = [p.end_s - p.start_s for p in passages]
    return TopicQuality(
        passages=len(passages),
        mean_passage_s=float(np.mean(lengths)) if lengths else 0.0,
        time_precision=relevant_played / played if played else 1.0,
        section_recall=covered / wanted if wanted else 1.0,
        ndcg_at_10=mean(ndcgs),
        off_catalog_s=off,
        per_topic=tuple(per_topic),
    )


def _overlap(items: Sequence[tuple[str, float, float]], episode: str, a: float, b: float) -> float:
    """Seconds of ``[a, b)`` in ``episode`` that the (non-overlapping) items play."""
    return sum(max(0.0, min(b, end) - max(a, start)) for e, start, end in items if e == episode)


def _main_passage(
    by_episode: dict[str, list[PlacedPassage]], episode: str, start: float, end: float
) -> str | None:
    best, most = None, 0.0
    for p in by_episode.get(episode, []):
        share = max(0.0, min(end, p.end_s) - max(start, p.start_s))
        if share > most:
            best, most = p.passage_id, share
    return best
