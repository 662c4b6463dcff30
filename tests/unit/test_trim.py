"""Trimming a playlist item to its topic's sentences (``tellmemore.search.trim``)."""

from __future__ import annotations

import numpy as np
import pytest

from tellmemore.search.trim import TrimRules, trimmed_span
from tellmemore.search.types import SegmentHit

pytestmark = pytest.mark.unit

SENTENCE = "This sentence is exactly forty chars ok."  # 40 characters with its space


def passage(index: int, start_s: float, sentences: int) -> SegmentHit:
    text = " ".join([SENTENCE] * sentences)
    return SegmentHit(f"e:{index:05d}", "e", "p", "E", "P", None, index, start_s,
                      start_s + 4.0 * sentences, text, 1.0, 0.5, 1, None)  # fmt: skip


def test_off_topic_sentences_at_both_ends_are_cut_at_sentence_bounds() -> None:
    run = [passage(0, 100.0, 10), passage(1, 140.0, 10)]  # 4 s per sentence
    scores = {
        "e:00000": np.array([0.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]),
        "e:00001": np.array([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0]),
    }
    start, end = trimmed_span(run, scores, TrimRules(below_best=0.12, neighbours=0))
    assert start == pytest.approx(116.0, abs=0.5)  # the fifth sentence's start
    assert end == pytest.approx(164.0, abs=0.5)  # the second passage's sixth sentence's end


def test_an_item_is_never_trimmed_below_the_shortest_length() -> None:
    run = [passage(0, 0.0, 10)]
    scores = {"e:00000": np.array([0.0] * 4 + [0.6] + [0.0] * 5)}
    start, end = trimmed_span(run, scores, TrimRules(neighbours=0, min_s=20.0))
    assert end - start >= 20.0 - 0.5
    assert start <= 16.0 <= 20.0 <= end  # still around the one on-topic sentence


def test_sentences_similar_enough_are_kept_whatever_the_best() -> None:
    run = [passage(0, 0.0, 10)]
    scores = {"e:00000": np.array([0.3] * 5 + [0.9] * 5)}
    rules = TrimRules(below_best=0.1, neighbours=0, min_s=0.0, keep_above=0.25)
    assert trimmed_span(run, scores, rules) == (0.0, 40.0)


def test_a_passage_without_sentence_scores_keeps_the_whole_run() -> None:
    run = [passage(0, 10.0, 5), passage(1, 30.0, 5)]
    scores = {"e:00000": np.array([0.0, 0.0, 0.5, 0.5, 0.5])}  # the second has none
    assert trimmed_span(run, scores, TrimRules()) == (10.0, 50.0)
    mismatched = {"e:00000": np.array([0.5, 0.5]), "e:00001": np.array([0.5] * 5)}
    assert trimmed_span(run, mismatched, TrimRules()) == (10.0, 50.0)
