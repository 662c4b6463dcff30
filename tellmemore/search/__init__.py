"""Search over processed episodes: hybrid retrieval, caching, indexes and "tell me more"."""

from tellmemore.search.engine import SearchEngine
from tellmemore.search.filters import where_clause
from tellmemore.search.fusion import (
    maximal_marginal_relevance,
    reciprocal_rank_fusion,
    relative_score_fusion,
)
from tellmemore.search.highlight import highlight, marked_html, query_terms, sentences
from tellmemore.search.highlighter import (
    by_passage,
    known_sentences,
    passage_sentences,
    sentence_matrix,
    unknown_sentences,
)
from tellmemore.search.planner import HeardRanges, Plan, TopicPlanner, covered_fraction
from tellmemore.search.ports import NoTextEmbedder, TextEmbedder, Vectors
from tellmemore.search.service import CATALOG_CACHE, SEARCH_CACHE, SearchService
from tellmemore.search.types import NO_FILTERS, Highlight, SearchFilters, SearchMode, SegmentHit

__all__ = [
    "CATALOG_CACHE",
    "NO_FILTERS",
    "SEARCH_CACHE",
    "HeardRanges",
    "Highlight",
    "NoTextEmbedder",
    "Plan",
    "SearchEngine",
    "SearchFilters",
    "SearchMode",
    "SearchService",
    "SegmentHit",
    "TextEmbedder",
    "TopicPlanner",
    "Vectors",
    "by_passage",
    "covered_fraction",
    "highlight",
    "known_sentences",
    "marked_html",
    "maximal_marginal_relevance",
    "passage_sentences",
    "query_terms",
    "reciprocal_rank_fusion",
    "relative_score_fusion",
    "sentence_matrix",
    "sentences",
    "unknown_sentences",
    "where_clause",
]
