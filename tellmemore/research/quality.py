"""Search quality on the labelled query set, per retrieval method, as tables.

The same measurement the search benchmark prints (nDCG@k and recall@k of semantic, full-text
and the two hybrid fusions over the labelled corpus), returned as a DataFrame per query so a
notebook can aggregate, plot and read the worst queries rather than parse text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd  # type: ignore[import-untyped]  # no pandas-stubs in the environment

from tellmemore.research.metrics import EvalSet, ndcg_at_k, recall_at_k, segment_id
from tellmemore.search import SearchEngine, SearchMode
from tellmemore.settings import SearchSettings


@dataclass(frozen=True)
class Method:
    name: str
    mode: SearchMode
    settings: SearchSettings


def standard_methods(base: SearchSettings) -> list[Method]:
    """Semantic, full-text (BM25), and hybrid with each fusion (the default one first)."""
    rrf = base.model_copy(update={"fusion": "rrf"})
    relative = base.model_copy(update={"fusion": "relative_score"})
    return [
        Method("semantic", SearchMode.SEMANTIC, base),
        Method("full-text (BM25)", SearchMode.FULLTEXT, base),
        Method(f"hybrid, relative score a={base.hybrid_alpha}", SearchMode.HYBRID, relative),
        Method(f"hybrid, RRF k={base.rrf_k}", SearchMode.HYBRID, rrf),
    ]


@dataclass(frozen=True)
class QualityReport:
    """One row per (method, query): ``method, query_id, kind, query, ndcg, recall``."""

    per_query: pd.DataFrame
    k: int

    def summary(self) -> pd.DataFrame:
        """Mean nDCG@k and recall@k per method, over all queries and per query kind."""
        frame = self.per_query
        overall = frame.groupby("method", sort=False)[["ndcg", "recall"]].mean()
        overall.columns = pd.MultiIndex.from_product([["ndcg", "recall"], ["all"]])
        by_kind = frame.pivot_table(index="method", columns="kind", values=["ndcg", "recall"],
                                    aggfunc="mean", sort=False)  # fmt: skip
        table = pd.concat([overall, by_kind], axis=1)
        table = table.sort_index(axis=1, level=0, sort_remaining=False)
        return table.loc[list(dict.fromkeys(frame["method"]))]

    def worst(self, method: str, n: int = 5) -> pd.DataFrame:
        """The ``n`` queries ``method`` answers worst (lowest nDCG, then recall)."""
        rows = self.per_query[self.per_query["method"] == method]
        if rows.empty:
            raise ValueError(f"No results for method {method!r}.")
        return rows.sort_values(["ndcg", "recall", "query_id"]).head(n).reset_index(drop=True)


async def evaluate(
    engine_for: Callable[[SearchSettings], SearchEngine],
    eval_set: EvalSet,
    methods: Sequence[Method],
    *,
    k: int = 10,
) -> QualityReport:
    """Run every labelled query with every method over the loaded corpus (stored ids from
    :func:`~tellmemore.research.metrics.segment_id`) and score the top ``k``."""
    rows = []
    for method in methods:
        engine = engine_for(method.settings)
        for query in eval_set.queries:
            hits = await engine.search_segments(
                query.query, mode=method.mode, limit=k, with_highlights=False
            )
            labels = {segment_id(p): grade for p, grade in query.relevant.items()}
            ranked = [h.segment_id for h in hits]
            rows.append({
                "method": method.name, "query_id": query.id, "kind": query.kind,
                "query": query.query, "ndcg": ndcg_at_k(ranked, labels, k),
                "recall": recall_at_k(ranked, labels, k),
            })  # fmt: skip
    return QualityReport(pd.DataFrame(rows), k)
