"""Combining ranked lists and choosing diverse results.

Two fusions of semantic and full-text results, since BM25 and cosine similarity live on
unrelated scales:

- **relative score fusion** (the default): each list's scores min-max normalised to [0, 1],
  then a weighted sum (``alpha`` for semantic). It keeps how *much* better the top hit is,
  which rank-only fusion throws away: a full-text list of weak one-word matches then adds
  little, while a decisive exact-name match still lifts its passage to the top.
- **reciprocal rank fusion**: ``sum(1 / (k + rank))``, scale-free and robust, but it gives a
  noisy list's ranks the same weight as a confident one's.

``bench/search.py`` measures both on the labelled set.

Maximal marginal relevance trades relevance against similarity to what was already chosen.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[K]], *, k: int = 60, weights: Sequence[float] | None = None
) -> list[tuple[K, float]]:
    """Items of all ``rankings`` ordered by ``sum(weight / (k + rank))`` (ranks from 1).

    Ties keep the order of first appearance, so the result is deterministic."""
    if weights is not None and len(weights) != len(rankings):
        raise ValueError("One weight per ranking.")
    scores: dict[K, float] = {}
    for position, ranking in enumerate(rankings):
        weight = 1.0 if weights is None else weights[position]
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: -item[1])


def relative_score_fusion(
    scored: Sequence[Mapping[K, float]], weights: Sequence[float]
) -> list[tuple[K, float]]:
    """Items of all lists by ``sum(weight * min-max normalised score)`` (higher is better).

    A list whose scores are all equal (one hit, or ties) gives each of its items the full
    weight. Ties keep the order of first appearance."""
    if len(weights) != len(scored):
        raise ValueError("One weight per list.")
    fused: dict[K, float] = {}
    for scores, weight in zip(scored, weights, strict=True):
        if not scores:
            continue
        low, high = min(scores.values()), max(scores.values())
        for key, value in scores.items():
            normal = 1.0 if high == low else (value - low) / (high - low)
            fused[key] = fused.get(key, 0.0) + weight * normal
    return sorted(fused.items(), key=lambda item: -item[1])


def maximal_marginal_relevance(
    candidates: Sequence[T],
    relevance: Callable[[T], float],
    similarity: Callable[[T, T], float],
    *,
    trade_off: float,
    accept: Callable[[T, list[T]], bool] = lambda _c, _chosen: True,
    stop: Callable[[list[T]], bool] = lambda _chosen: False,
    chosen_before: Sequence[T] = (),
) -> list[T]:
    """Greedy MMR: repeatedly take the candidate maximising
    ``trade_off * relevance - (1 - trade_off) * max similarity to the chosen ones``.

    ``accept`` can veto a candidate given what was chosen (near-duplicates, length budget);
    ``stop`` ends the selection (enough material). ``chosen_before`` (what a growing list
    already holds) counts as chosen for the similarity, but is neither returned nor passed to
    ``accept`` and ``stop``."""
    remaining = list(candidates)
    chosen: list[T] = []
    max_sim = [max((similarity(c, b) for b in chosen_before), default=0.0) for c in remaining]
    while remaining and not stop(chosen):
        best_i, best_score = -1, float("-inf")
        for i, candidate in enumerate(remaining):
            score = trade_off * relevance(candidate) - (1.0 - trade_off) * max_sim[i]
            if score > best_score:
                best_i, best_score = i, score
        candidate = remaining.pop(best_i)
        max_sim.pop(best_i)
        if not accept(candidate, chosen):
            continue
        chosen.append(candidate)
        for i, other in enumerate(remaining):
            max_sim[i] = max(max_sim[i], similarity(other, candidate))
    return chosen
