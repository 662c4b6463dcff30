"""Ranking metrics and the labelled search-quality set they are measured on.

nDCG@k rewards putting the passages that answer a query (grade 2) above the ones that only touch
on it (grade 1), and both above the rest; recall@k asks how many of the labelled passages made it
into the first k at all. The set itself (``tellmemore/research/search_eval/``) is a synthetic
podcast
corpus with graded labels, loaded into typed frozen dataclasses and checked on load, so a bad
edit to the JSON fails loudly instead of quietly skewing the numbers.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast, get_args

CORPUS_FORMAT = "tellmemore.search_eval/1"
QUERIES_FORMAT = "tellmemore.search_eval_queries/1"
QueryKind = Literal["paraphrase", "keyword", "mixed"]
_KINDS: tuple[str, ...] = get_args(QueryKind)
_GRADES = (1, 2)  # 1 = partially relevant, 2 = directly answers
_TIME_TOLERANCE_S = 1e-6


# --- metrics ------------------------------------------------------------------------------


# Stored ids of the corpus once loaded (``tellmemore.research.corpus``): UUID v5 of the corpus ids,
# so the labels' passage ids name the stored segments.
_NAMESPACE = uuid.UUID("6f1d2a9e-8b4c-4d3e-9a57-2c1e0b7d5f33")


def entity_id(corpus_id: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, corpus_id)


def segment_id(passage_id: str) -> str:
    """The stored id of a corpus passage (``<episode>:<index>`` → ``<uuid>:<index, 5 digits>``)."""
    episode, _, index = passage_id.rpartition(":")
    return f"{entity_id(episode)}:{int(index):05d}"


def dcg_at_k(ranked_ids: Sequence[str], relevance: Mapping[str, int], k: int = 10) -> float:
    """Discounted cumulative gain of the first ``k`` ids: ``sum((2**rel - 1) / log2(rank + 1))``.

    Unlabelled ids gain nothing, and an id repeated in the ranking counts only where it first
    appears (a ranking cannot earn credit twice for one passage)."""
    _check_k(k)
    seen: set[str] = set()
    grades: list[int] = []
    for item in ranked_ids[:k]:
        grades.append(0 if item in seen else relevance.get(item, 0))
        seen.add(item)
    return _discounted(grades)


def ndcg_at_k(ranked_ids: Sequence[str], relevance: Mapping[str, int], k: int = 10) -> float:
    """DCG@k divided by the DCG@k of the ideal ranking of the labels (1.0 = perfect order).

    A query with no positive label has no ideal ranking; that is an error in the eval set, not
    a score of zero, so it raises ``ValueError``."""
    _check_k(k)
    ideal = _discounted(sorted((g for g in relevance.values() if g > 0), reverse=True)[:k])
    if ideal == 0.0:
        raise ValueError("nDCG is undefined for a query without any relevant label.")
    return dcg_at_k(ranked_ids, relevance, k) / ideal


def recall_at_k(ranked_ids: Sequence[str], relevance: Mapping[str, int], k: int = 10) -> float:
    """The share of the relevant ids (grade >= 1) found among the first ``k`` ranked ids."""
    _check_k(k)
    relevant = {item for item, grade in relevance.items() if grade >= 1}
    if not relevant:
        raise ValueError("Recall is undefined for a query without any relevant label.")
    return len(relevant.intersection(ranked_ids[:k])) / len(relevant)


def mean(values: Iterable[float]) -> float:
    """The arithmetic mean; an empty input raises instead of pretending to be 0."""
    items = list(values)
    if not items:
        raise ValueError("The mean of no values is undefined.")
    return math.fsum(items) / len(items)


def _discounted(grades: Sequence[int]) -> float:
    return math.fsum((2**g - 1) / math.log2(rank + 1) for rank, g in enumerate(grades, start=1))


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}.")


# --- the eval set -------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalPassage:
    """A timed stretch of one episode's transcript; ``id`` is ``<episode id>:<4-digit index>``."""

    id: str
    start_s: float
    end_s: float
    text: str

    @property
    def index(self) -> int:
        return int(self.id.rpartition(":")[2])


@dataclass(frozen=True)
class EvalEpisode:
    id: str
    title: str
    published_at: datetime  # timezone-aware
    duration_s: float
    passages: tuple[EvalPassage, ...]


@dataclass(frozen=True)
class EvalPodcast:
    id: str
    title: str
    episodes: tuple[EvalEpisode, ...]


@dataclass(frozen=True)
class EvalQuery:
    """A search with graded labels: passage id -> 2 (directly answers) or 1 (partially)."""

    id: str
    query: str
    kind: QueryKind
    relevant: Mapping[str, int] = field(hash=False)


@dataclass(frozen=True)
class EvalSet:
    podcasts: tuple[EvalPodcast, ...]
    queries: tuple[EvalQuery, ...]

    @property
    def episodes(self) -> tuple[EvalEpisode, ...]:
        return tuple(e for p in self.podcasts for e in p.episodes)

    @property
    def passages(self) -> tuple[EvalPassage, ...]:
        return tuple(x for e in self.episodes for x in e.passages)

    def queries_of(self, kind: QueryKind) -> tuple[EvalQuery, ...]:
        return tuple(q for q in self.queries if q.kind == kind)


def load_eval_set(path: Traversable | str | None = None) -> EvalSet:
    """The eval set from ``corpus.json`` and ``queries.json`` in ``path`` (default: the copy
    packaged in ``tellmemore/research/search_eval/``), validated; raises ``ValueError``
    naming the problem."""
    if path is None:
        folder: Traversable = resources.files("tellmemore.research").joinpath("search_eval")
    else:
        folder = Path(path) if isinstance(path, str) else path
    corpus = _read_json(folder.joinpath("corpus.json"), CORPUS_FORMAT)
    queries = _read_json(folder.joinpath("queries.json"), QUERIES_FORMAT)
    podcasts = tuple(_podcast(p) for p in _list(corpus, "podcasts", "corpus"))
    passage_ids = _check_unique(podcasts)
    parsed = tuple(_query(q, passage_ids) for q in _list(queries, "queries", "queries.json"))
    _unique((q.id for q in parsed), "query")
    return EvalSet(podcasts=podcasts, queries=parsed)


def _read_json(file: Traversable, expected_format: str) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"Cannot read the eval set file {file}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != expected_format:
        raise ValueError(f"{file} is not a {expected_format!r} document.")
    return data


def _list(obj: Mapping[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    value = obj.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        raise ValueError(f"{where}: {key!r} must be a non-empty list of objects.")
    return value


def _text(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: {key!r} must be a non-empty string.")
    return value


def _number(obj: Mapping[str, Any], key: str, where: str) -> float:
    value = obj.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{where}: {key!r} must be a number.")
    return float(value)


def _podcast(raw: Mapping[str, Any]) -> EvalPodcast:
    pid = _text(raw, "id", "podcast")
    episodes = tuple(_episode(e) for e in _list(raw, "episodes", f"podcast {pid}"))
    return EvalPodcast(id=pid, title=_text(raw, "title", f"podcast {pid}"), episodes=episodes)


def _episode(raw: Mapping[str, Any]) -> EvalEpisode:
    eid = _text(raw, "id", "episode")
    where = f"episode {eid}"
    published_raw = _text(raw, "published_at", where)
    try:
        published_at = datetime.fromisoformat(published_raw)
    except ValueError as exc:
        raise ValueError(f"{where}: published_at is not an ISO 8601 date-time.") from exc
    if published_at.tzinfo is None:
        raise ValueError(f"{where}: published_at needs a timezone (e.g. a trailing Z).")
    duration_s = _number(raw, "duration_s", where)
    passages = tuple(
        EvalPassage(
            id=_text(p, "id", where),
            start_s=_number(p, "start_s", where),
            end_s=_number(p, "end_s", where),
            text=_text(p, "text", where),
        )
        for p in _list(raw, "passages", where)
    )
    _check_timeline(eid, duration_s, passages)
    return EvalEpisode(eid, _text(raw, "title", where), published_at, duration_s, passages)


def _check_timeline(eid: str, duration_s: float, passages: Sequence[EvalPassage]) -> None:
    """Ids number the passages in order, and the passages tile the episode without gaps,
    overlaps or running past its end."""
    previous_end = 0.0
    for index, p in enumerate(passages):
        if p.id != f"{eid}:{index:04d}":
            raise ValueError(
                f"episode {eid}: passage {index} has id {p.id!r}, not {eid}:{index:04d}."
            )
        if p.end_s <= p.start_s:
            raise ValueError(f"passage {p.id}: end_s {p.end_s} is not after start_s {p.start_s}.")
        if index == 0 and p.start_s < 0:
            raise ValueError(f"passage {p.id}: start_s {p.start_s} is negative.")
        if index > 0 and abs(p.start_s - previous_end) > _TIME_TOLERANCE_S:
            raise ValueError(
                f"passage {p.id}: starts at {p.start_s} but the previous passage ends at "
                f"{previous_end}; passages must be contiguous."
            )
        previous_end = p.end_s
    if previous_end > duration_s + _TIME_TOLERANCE_S:
        raise ValueError(
            f"episode {eid}: passages run to {previous_end} s, past duration {duration_s} s."
        )


def _check_unique(podcasts: Sequence[EvalPodcast]) -> frozenset[str]:
    _unique((p.id for p in podcasts), "podcast")
    episodes = [e for p in podcasts for e in p.episodes]
    _unique((e.id for e in episodes), "episode")
    passage_ids = [x.id for e in episodes for x in e.passages]
    _unique(passage_ids, "passage")
    return frozenset(passage_ids)


def _unique(ids: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"The {what} id {item!r} appears more than once.")
        seen.add(item)


def _query(raw: Mapping[str, Any], passage_ids: frozenset[str]) -> EvalQuery:
    qid = _text(raw, "id", "query")
    where = f"query {qid}"
    kind = _text(raw, "kind", where)
    if kind not in _KINDS:
        raise ValueError(f"{where}: kind {kind!r} is not one of {', '.join(_KINDS)}.")
    labels = raw.get("relevant")
    if not isinstance(labels, dict) or not labels:
        raise ValueError(f"{where}: 'relevant' must map at least one passage id to a grade.")
    for passage_id, grade in labels.items():
        if passage_id not in passage_ids:
            raise ValueError(f"{where}: labelled passage {passage_id!r} is not in the corpus.")
        if grade not in _GRADES or isinstance(grade, bool):
            raise ValueError(f"{where}: passage {passage_id} has grade {grade!r}, not 1 or 2.")
    return EvalQuery(
        id=qid,
        query=_text(raw, "query", where),
        kind=cast(QueryKind, kind),
        relevant=MappingProxyType(dict(labels)),
    )
