"""Everything about the LanceDB tables, in one home: connections, embedding spaces and the
registry of which index is active, the table layout and its race-safe writers, readers that
follow new versions, and index maintenance."""

from tellmemore.index.connection import (
    LazyConnection,
    connect,
    lance_uri,
    live_tables,
    storage_options,
)
from tellmemore.index.maintenance import IndexReport, ensure_fts_index, maintain
from tellmemore.index.readers import IndexSource, IndexTables, IndexView, TableReader, TableSource
from tellmemore.index.segments import EpisodeMeta, SegmentStore, segments_schema
from tellmemore.index.spaces import (
    ActiveIndex,
    FixedIndex,
    SearchIndex,
    index_for,
    resegmented,
    space_of,
    with_runtime,
)
from tellmemore.index.sql import sql_string
from tellmemore.index.tables import SearchTables
from tellmemore.index.writes import retry_on_conflict

__all__ = [
    "ActiveIndex",
    "EpisodeMeta",
    "FixedIndex",
    "IndexReport",
    "IndexSource",
    "IndexTables",
    "IndexView",
    "LazyConnection",
    "SearchIndex",
    "SearchTables",
    "SegmentStore",
    "TableReader",
    "TableSource",
    "connect",
    "ensure_fts_index",
    "index_for",
    "lance_uri",
    "live_tables",
    "maintain",
    "resegmented",
    "retry_on_conflict",
    "segments_schema",
    "space_of",
    "sql_string",
    "storage_options",
    "with_runtime",
]
