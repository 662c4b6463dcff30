"""Read-only access to what the system produced, for researchers (notebooks, exports).

from tellmemore.research import ResearchCatalog
catalog = ResearchCatalog.open()          # what TMM_* settings describe
catalog.episodes(); catalog.segments(vectors=True); catalog.transcript(episode_id)
"""

from tellmemore.research.catalog import ResearchCatalog
from tellmemore.research.corpus import LoadedCatalog, load_eval_catalog, store_eval_passages
from tellmemore.research.exports import ExportReport, export_segments, export_transcripts
from tellmemore.research.metrics import (
    EvalQuery,
    EvalSet,
    QueryKind,
    dcg_at_k,
    entity_id,
    load_eval_set,
    mean,
    ndcg_at_k,
    recall_at_k,
    segment_id,
)
from tellmemore.research.quality import evaluate, standard_methods
from tellmemore.research.topics import TopicMap, topic_map

__all__ = [
    "EvalQuery",
    "EvalSet",
    "ExportReport",
    "LoadedCatalog",
    "QueryKind",
    "ResearchCatalog",
    "TopicMap",
    "dcg_at_k",
    "entity_id",
    "evaluate",
    "export_segments",
    "export_transcripts",
    "load_eval_catalog",
    "load_eval_set",
    "mean",
    "ndcg_at_k",
    "recall_at_k",
    "segment_id",
    "standard_methods",
    "store_eval_passages",
    "topic_map",
]
