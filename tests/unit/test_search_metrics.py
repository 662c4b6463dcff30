"""Ranking metrics on hand-computed examples, and the shipped search eval set loads and holds
the properties the benchmark relies on; a broken copy of it is refused with a clear reason."""

from __future__ import annotations

import copy
import json
import math
import re
import shutil
from collections import Counter
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from tellmemore.research import dcg_at_k, load_eval_set, mean, ndcg_at_k, recall_at_k

LOG2_3 = math.log2(3)
GRADED = {"a": 2, "b": 1}
IDEAL = 3 + 1 / LOG2_3  # a (gain 3) at rank 1, b (gain 1) at rank 2


def test_dcg_uses_exponential_gains_and_log2_discount() -> None:
    assert dcg_at_k(["a", "b"], GRADED) == pytest.approx(IDEAL)
    assert dcg_at_k(["x", "a"], GRADED) == pytest.approx(3 / LOG2_3)
    assert dcg_at_k(["x", "y"], GRADED) == 0.0


def test_perfect_ranking_scores_one() -> None:
    assert ndcg_at_k(["a", "b", "x"], GRADED) == pytest.approx(1.0)
    assert recall_at_k(["a", "b", "x"], GRADED) == 1.0


def test_reversed_ranking() -> None:
    # b (gain 1) at rank 1, a (gain 3) at rank 2.
    expected = (1 + 3 / LOG2_3) / IDEAL
    assert ndcg_at_k(["b", "a"], GRADED) == pytest.approx(expected)
    assert expected == pytest.approx(0.7967, abs=1e-4)
    assert recall_at_k(["b", "a"], GRADED) == 1.0


def test_nothing_relevant_retrieved_scores_zero() -> None:
    assert ndcg_at_k(["x", "y", "z"], GRADED) == 0.0
    assert recall_at_k(["x", "y", "z"], GRADED) == 0.0
    assert ndcg_at_k([], GRADED) == 0.0


def test_graded_ranking_with_gaps() -> None:
    # a at rank 2, b at rank 4: 3/log2(3) + 1/log2(5), over the ideal 3 + 1/log2(3).
    expected = (3 / LOG2_3 + 1 / math.log2(5)) / IDEAL
    assert ndcg_at_k(["x", "a", "y", "b"], GRADED) == pytest.approx(expected)
    assert expected == pytest.approx(0.6399, abs=1e-4)
    # Finding only the partially relevant passage is worth less than finding only the answer.
    assert ndcg_at_k(["b"], GRADED) < ndcg_at_k(["a"], GRADED)


def test_only_the_first_k_count() -> None:
    ranking = [f"x{i}" for i in range(10)] + ["a", "b"]
    assert ndcg_at_k(ranking, GRADED, k=10) == 0.0
    assert recall_at_k(ranking, GRADED, k=10) == 0.0
    assert recall_at_k(ranking, GRADED, k=12) == 1.0
    assert ndcg_at_k(["x", "a", "b"], GRADED, k=1) == 0.0


def test_ideal_ranking_is_cut_at_k_too() -> None:
    labels = {"a": 2, "b": 2, "c": 2}
    assert ndcg_at_k(["a"], labels, k=1) == pytest.approx(1.0)


def test_a_repeated_id_earns_credit_once() -> None:
    labels = {"a": 2, "b": 2}
    assert ndcg_at_k(["a", "a"], labels) == pytest.approx(3 / (3 + 3 / LOG2_3))
    assert ndcg_at_k(["a", "a", "b"], labels) <= 1.0
    assert recall_at_k(["a", "a"], labels) == 0.5


def test_recall_counts_grade_one_and_above() -> None:
    labels = {"a": 2, "b": 1, "c": 1, "z": 0}
    assert recall_at_k(["a", "x", "c"], labels) == pytest.approx(2 / 3)
    assert recall_at_k(["z"], labels) == 0.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ndcg_at_k(["a"], {}), "without any relevant label"),
        (lambda: ndcg_at_k(["a"], {"a": 0}), "without any relevant label"),
        (lambda: recall_at_k(["a"], {}), "without any relevant label"),
        (lambda: ndcg_at_k(["a"], GRADED, k=0), "k must be at least 1"),
        (lambda: recall_at_k(["a"], GRADED, k=0), "k must be at least 1"),
        (lambda: mean([]), "mean of no values"),
    ],
)
def test_undefined_values_raise(call: Callable[[], float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_mean() -> None:
    assert mean([1.0, 0.5, 0.0]) == pytest.approx(0.5)
    assert mean(x for x in (0.25,)) == 0.25


# --- the shipped eval set -----------------------------------------------------------------

PACKAGED = resources.files("tellmemore.research").joinpath("search_eval")


def test_the_shipped_eval_set_loads_and_has_its_shape() -> None:
    eval_set = load_eval_set()
    assert len(eval_set.podcasts) == 6
    assert all(3 <= len(p.episodes) <= 4 for p in eval_set.podcasts)
    assert all(8 <= len(e.passages) <= 12 for e in eval_set.episodes)
    assert 220 <= len(eval_set.passages) <= 300
    for passage in eval_set.passages:
        assert 60 <= len(passage.text.split()) <= 140, passage.id
        assert 45 <= passage.end_s - passage.start_s <= 100, passage.id
    assert len(eval_set.queries) == 40
    kinds = Counter(q.kind for q in eval_set.queries)
    assert kinds == {"paraphrase": 15, "keyword": 12, "mixed": 13}


def test_the_shipped_labels_point_at_passages_and_often_span_podcasts() -> None:
    eval_set = load_eval_set()
    podcast_of = {x.id: p.id for p in eval_set.podcasts for e in p.episodes for x in e.passages}
    for query in eval_set.queries:
        assert set(query.relevant) <= podcast_of.keys()
        assert 1 <= len(query.relevant) <= 7 and max(query.relevant.values()) == 2, query.id
    spanning = [q for q in eval_set.queries if len({podcast_of[i] for i in q.relevant}) > 1]
    assert len(spanning) >= len(eval_set.queries) // 2


def test_the_default_path_is_the_packaged_folder() -> None:
    assert load_eval_set() == load_eval_set(PACKAGED)


def test_labels_are_read_only() -> None:
    query = load_eval_set().queries[0]
    with pytest.raises(TypeError):
        query.relevant["x"] = 2  # type: ignore[index]


# --- a broken copy is refused -------------------------------------------------------------

Mutation = Callable[[dict[str, Any], dict[str, Any]], None]


def _first_episode(corpus: dict[str, Any]) -> dict[str, Any]:
    episode: dict[str, Any] = corpus["podcasts"][0]["episodes"][0]
    return episode


def _duplicate_episode_id(corpus: dict[str, Any], _q: dict[str, Any]) -> None:
    corpus["podcasts"][1]["episodes"][0] = copy.deepcopy(_first_episode(corpus))


def _misnumbered_passage(corpus: dict[str, Any], _q: dict[str, Any]) -> None:
    _first_episode(corpus)["passages"][2]["id"] = _first_episode(corpus)["passages"][1]["id"]


def _gap_between_passages(corpus: dict[str, Any], _q: dict[str, Any]) -> None:
    _first_episode(corpus)["passages"][3]["start_s"] += 5


def _backwards_passage(corpus: dict[str, Any], _q: dict[str, Any]) -> None:
    passage = _first_episode(corpus)["passages"][0]
    passage["end_s"] = passage["start_s"]


def _runs_past_the_episode(corpus: dict[str, Any], _q: dict[str, Any]) -> None:
    episode = _first_episode(corpus)
    episode["duration_s"] = episode["passages"][-1]["end_s"] - 1


def _unknown_label(_c: dict[str, Any], queries: dict[str, Any]) -> None:
    queries["queries"][0]["relevant"]["eval-ep-9-9:0000"] = 2


def _bad_grade(_c: dict[str, Any], queries: dict[str, Any]) -> None:
    labels = queries["queries"][0]["relevant"]
    labels[next(iter(labels))] = 3


def _duplicate_query_id(_c: dict[str, Any], queries: dict[str, Any]) -> None:
    queries["queries"][1]["id"] = queries["queries"][0]["id"]


def _unknown_kind(_c: dict[str, Any], queries: dict[str, Any]) -> None:
    queries["queries"][0]["kind"] = "semantic"


def _naive_date(corpus: dict[str, Any], _q: dict[str, Any]) -> None:
    _first_episode(corpus)["published_at"] = "2026-01-06T06:00:00"


def _wrong_format(corpus: dict[str, Any], _q: dict[str, Any]) -> None:
    corpus["format"] = "tellmemore.search_eval/2"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_duplicate_episode_id, "episode id 'eval-ep-1-1' appears more than once"),
        (_misnumbered_passage, "passage 2 has id 'eval-ep-1-1:0001'"),
        (_gap_between_passages, "passages must be contiguous"),
        (_backwards_passage, "is not after start_s"),
        (_runs_past_the_episode, "past duration"),
        (_unknown_label, "labelled passage 'eval-ep-9-9:0000' is not in the corpus"),
        (_bad_grade, "not 1 or 2"),
        (_duplicate_query_id, "query id 'q01' appears more than once"),
        (_unknown_kind, "kind 'semantic' is not one of paraphrase, keyword, mixed"),
        (_naive_date, "published_at needs a timezone"),
        (_wrong_format, "is not a 'tellmemore.search_eval/1' document"),
    ],
)
def test_a_broken_copy_is_refused(tmp_path: Path, mutate: Mutation, message: str) -> None:
    corpus = json.loads(PACKAGED.joinpath("corpus.json").read_text(encoding="utf-8"))
    queries = json.loads(PACKAGED.joinpath("queries.json").read_text(encoding="utf-8"))
    mutate(corpus, queries)
    (tmp_path / "corpus.json").write_text(json.dumps(corpus), encoding="utf-8")
    (tmp_path / "queries.json").write_text(json.dumps(queries), encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(message)):
        load_eval_set(tmp_path)


def test_an_unmodified_copy_loads(tmp_path: Path) -> None:
    for name in ("corpus.json", "queries.json"):
        shutil.copyfile(str(PACKAGED.joinpath(name)), tmp_path / name)
    assert load_eval_set(str(tmp_path)) == load_eval_set()
