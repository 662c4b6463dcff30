"""Topic cuts: depth scores, the floor and ceiling, hints, and the segmenter's use of them."""

from __future__ import annotations

import numpy as np
import pytest

from models.segmenter import segment_transcript, sentence_batches, sentence_texts
from models.topic_tiling import TilingParams, choose_cuts, depth_scores
from models.types import Embeddings, ModelRef, Transcript, TranscriptSegment
from tellmemore.search.planner import shares_topic_words, topic_words

ASR = ModelRef(kind="asr", name="whisper-tiny.en", version="abc123")
EMBEDDER = ModelRef(kind="embedding", name="all-MiniLM-L6-v2", version="0123456789abcdef")


def _topics(lengths: list[int], seconds: float = 6.0) -> tuple[Transcript, Embeddings]:
    """Sentences of ``seconds`` each, ``lengths[i]`` of them on topic ``i`` (a unit vector per
    topic, a little noise per sentence)."""
    rng = np.random.default_rng(7)
    segments, rows, at = [], [], 0.0
    for topic, count in enumerate(lengths):
        base = np.zeros(16)
        base[topic] = 1.0
        for n in range(count):
            segments.append(TranscriptSegment(at, at + seconds, f"Topic {topic} sentence {n}."))
            row = base + rng.normal(0, 0.15, 16)
            rows.append(row / np.linalg.norm(row))
            at += seconds + 0.3
    transcript = Transcript(tuple(segments), "en", at, ASR)
    return transcript, Embeddings(np.asarray(rows, dtype=np.float32), 16, EMBEDDER)


def test_passages_end_where_the_topic_changes() -> None:
    transcript, vectors = _topics([8, 5, 9])  # about 50 s, 32 s and 57 s
    passages = segment_transcript(transcript, "ep", sentence_vectors=vectors)
    starts = [p.text.split()[1] for p in passages]
    assert starts == ["0", "1", "2"]
    assert all(p.text.count("Topic 1") in (0, 5) for p in passages)
    assert passages[0].model.name == "topic-tiling"
    assert "all-MiniLM-L6-v2@0123456789ab" in passages[0].model.version


def test_a_long_topic_is_cut_under_the_ceiling_and_short_ones_keep_the_floor() -> None:
    transcript, vectors = _topics([40, 2, 6])  # 250 s, then 13 s, then 38 s
    passages = segment_transcript(transcript, "ep", sentence_vectors=vectors)
    assert all(p.end_s - p.start_s <= 120.0 for p in passages)
    assert all(p.end_s - p.start_s >= 20.0 for p in passages)
    # the 13 s topic cannot stand alone (floor): it joins a neighbour, never splits one
    assert sum("Topic 1" in p.text for p in passages) == 1


def test_ids_are_stable_and_the_vectors_must_match_the_sentences() -> None:
    transcript, vectors = _topics([6, 6])
    assert len(sentence_texts(transcript)) == len(vectors.vectors)
    first = segment_transcript(transcript, "ep-3", sentence_vectors=vectors)
    assert first == segment_transcript(transcript, "ep-3", sentence_vectors=vectors)
    assert [p.id for p in first] == [f"ep-3:{i:05d}" for i in range(len(first))]
    short = Embeddings(vectors.vectors[:-1], 16, EMBEDDER)
    with pytest.raises(ValueError, match="sentence vectors"):
        segment_transcript(transcript, "ep-3", sentence_vectors=short)


def test_sentences_are_embedded_in_bounded_batches() -> None:
    batches = sentence_batches([str(i) for i in range(600)])
    assert [len(b) for b in batches] == [256, 256, 88]
    assert sentence_batches([]) == []


def test_depth_is_a_valley_below_both_peaks_not_a_low_value() -> None:
    flat_low = depth_scores(np.array([0.2, 0.2, 0.2, 0.2]))
    assert flat_low.max() == 0.0
    valley = depth_scores(np.array([0.8, 0.7, 0.1, 0.6, 0.9]))
    assert int(np.argmax(valley)) == 2
    assert valley[2] == pytest.approx((0.8 - 0.1) + (0.9 - 0.1))


def test_hints_and_forced_cuts() -> None:
    starts = [float(10 * i) for i in range(12)]
    ends = [s + 9.5 for s in starts]
    params = TilingParams(window=30, shortest=20, longest=120)
    scores = [0.0] * 11
    assert choose_cuts(starts, ends, [1.0] * 12, scores, params) == []  # 120 s: no cut needed
    scores[5] = 0.6
    assert choose_cuts(starts, ends, [1.0] * 12, scores, params) == [5]
    forced = [False] * 11
    forced[8] = True
    assert choose_cuts(starts, ends, [1.0] * 12, scores, params, forced=forced) == [5, 8]


def test_topic_words_need_more_than_one_shared_common_word() -> None:
    words = topic_words("deep sea creatures of the abyss")
    assert shares_topic_words(words, "Deep sleep is when the body repairs itself.") == 0.25
    bebop = topic_words("the origins of bebop")
    assert shares_topic_words(bebop, "Bebop's origin lies in Harlem jam sessions.") == 1.0
    assert shares_topic_words(topic_words("how lava flows"), "The river flow was slow.") == 0.5
    assert topic_words("tell me more about it") == frozenset()
