"""Read-only access to what the system produced, for researchers (notebooks, exports).

from core.research import ResearchCatalog
catalog = ResearchCatalog.open()          # what TMM_* settings describe
catalog.episodes(); catalog.segments(vectors=True); catalog.transcript(episode_id)
"""

from core.research.catalog import ResearchCatalog

__all__ = ["ResearchCatalog"]
