"""The catalog as researchers read it: tables, metadata and transcripts, and nothing that writes.

:class:`ResearchCatalog` opens whatever the settings point at — LanceDB in a local folder or on
S3, the PostgreSQL database, the transcripts bucket — so a notebook reads the local demo and a
cluster's data the same way. Reads only, and enforced rather than promised: its PostgreSQL
sessions are read-only at the server (``default_transaction_read_only``), LanceDB tables are
scanned or searched, and S3 objects are fetched.

Synchronous on purpose: a notebook's cell is plain code under a running event loop, so the few
async parts (the index registry, the search engine) run on a private loop in a worker thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import pandas as pd  # type: ignore[import-untyped]  # no pandas-stubs in the environment
import psycopg
import pyarrow as pa
from psycopg.rows import dict_row

from models.artifacts import ModelArtifacts
from tellmemore.index import FixedIndex, SearchIndex, connect, index_for, sql_string
from tellmemore.index import registry as search_indexes
from tellmemore.search import SearchEngine
from tellmemore.settings import SearchSettings, Settings, load_settings
from tellmemore.storage import ObjectStore, model_artifacts

if TYPE_CHECKING:  # models/ is imported where used: core does not depend on it to load
    from models.types import Transcript
    from tellmemore.research.quality import QualityReport

T = TypeVar("T")

SEGMENT_COLUMNS = (
    "id", "episode_id", "podcast_id", "index", "start_s", "end_s", "text", "published_at",
    "episode_title", "podcast_title", "segmenter_model", "transcript_model", "embedding_model",
)  # fmt: skip
SUMMARY_COLUMNS = (
    "episode_id", "podcast_id", "summary", "topics", "chapters", "llm_model", "embedding_model",
    "episode_title", "podcast_title", "published_at",
)  # fmt: skip
# Episode metadata joined onto passages: what PostgreSQL knows that the tables do not.
EPISODE_META = ("status", "duration_s", "audio_duration_s", "transcript_source", "processed_at")

_EPISODES_SQL = """
SELECT e.id::text AS episode_id, e.podcast_id::text AS podcast_id, p.title AS podcast_title,
       e.title, e.published_at, e.duration_s, e.audio_duration_s, e.status, e.error_code,
       e.error_message, e.transcript_source, e.transcript_key, e.transcript_model,
       e.segmenter_model, e.llm_model, e.embedding_model, e.segment_count, e.processed_at,
       e.summary ->> 'summary' AS summary
FROM episodes e JOIN podcasts p ON p.id = e.podcast_id
WHERE (%(podcasts)s::uuid[] IS NULL OR e.podcast_id = ANY(%(podcasts)s::uuid[]))
ORDER BY p.title, e.published_at NULLS LAST, e.title
"""

_PODCASTS_SQL = """
SELECT p.id::text AS podcast_id, p.title, p.author, p.language, p.feed_url, p.last_success_at,
       count(e.id) AS episodes, count(e.id) FILTER (WHERE e.status = 'done') AS done,
       count(e.id) FILTER (WHERE e.status = 'failed') AS failed
FROM podcasts p LEFT JOIN episodes e ON e.podcast_id = p.id
GROUP BY p.id ORDER BY p.title
"""


class ResearchCatalog:
    """Read-only views of the catalog as pandas (or Arrow) tables."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lance = connect(settings.lance, settings.s3, create_bucket=False)
        self._objects = ObjectStore(settings.s3)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._index: SearchIndex | None = None
        self._engine: SearchEngine | None = None

    @classmethod
    def open(cls, settings: Settings | None = None) -> ResearchCatalog:
        """The catalog the environment (``TMM_*``, ``.env``) describes, unless given settings."""
        return cls(settings or load_settings())

    def __enter__(self) -> ResearchCatalog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()
            self._loop = self._thread = None

    # ---- PostgreSQL ------------------------------------------------------------------------

    def _artifacts(self) -> ModelArtifacts:
        """Where a model setting that is an artifact URI gets fetched from and cached."""
        return model_artifacts(self.settings.s3, self.settings.models)

    def _read(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        options = (
            "-c default_transaction_read_only=on "
            f"-c statement_timeout={self.settings.database.statement_timeout_ms}"
        )
        with psycopg.connect(self.settings.database.url, options=options,
                             row_factory=dict_row) as conn:  # fmt: skip
            rows = conn.execute(sql.encode(), params or {}).fetchall()
        return pd.DataFrame(rows)

    def query(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Any SELECT as a DataFrame, in a read-only session (a write is refused by the server)."""
        return self._read(sql, params)

    def podcasts(self) -> pd.DataFrame:
        """One row per podcast with its episode counts (all, done, failed)."""
        return self._read(_PODCASTS_SQL)

    def episodes(self, podcast_ids: Iterable[str | UUID] | None = None) -> pd.DataFrame:
        """Episodes with their podcast's title, processing status and what made each output."""
        podcasts = None if podcast_ids is None else [str(p) for p in podcast_ids]
        return self._read(_EPISODES_SQL, {"podcasts": podcasts})

    # ---- LanceDB ----------------------------------------------------------------------------

    @property
    def index(self) -> SearchIndex:
        """The search index readers use: the registry's active one, else the settings' own."""
        if self._index is None:
            self._index = self._run(self._active_index()) or index_for(
                self.settings.models.embedder
            )
        return self._index

    async def _active_index(self) -> SearchIndex | None:
        async with await psycopg.AsyncConnection.connect(
            self.settings.database.url, options="-c default_transaction_read_only=on"
        ) as conn:
            return await search_indexes.active(conn)

    def _scan(
        self, table: str, columns: Sequence[str], podcast_ids: Iterable[str | UUID] | None
    ) -> pa.Table:
        try:
            dataset = self._lance.open_table(table).to_lance()
        except (ValueError, FileNotFoundError):
            return pa.table({c: pa.array([], pa.string()) for c in columns})
        where = None
        if podcast_ids is not None:
            where = f"podcast_id IN ({', '.join(sql_string(str(p)) for p in podcast_ids)})"
        result: pa.Table = dataset.to_table(columns=list(columns), filter=where)
        return result

    def segments_arrow(
        self, *, vectors: bool = True, podcast_ids: Iterable[str | UUID] | None = None
    ) -> pa.Table:
        """Passages of the active index as Arrow (embeddings as fixed-size float32 lists)."""
        columns = [*SEGMENT_COLUMNS, *(["vector"] if vectors else [])]
        return self._scan(self.index.segments_table, columns, podcast_ids)

    def segments(
        self, *, vectors: bool = False, podcast_ids: Iterable[str | UUID] | None = None
    ) -> pd.DataFrame:
        """Passages with their episode's metadata from PostgreSQL joined in."""
        ids = None if podcast_ids is None else list(podcast_ids)
        frame = self.segments_arrow(vectors=vectors, podcast_ids=ids).to_pandas()
        meta = self.episodes(ids)
        if meta.empty or frame.empty:
            return frame
        return frame.merge(meta[["episode_id", *EPISODE_META]], on="episode_id", how="left")

    def summaries(
        self, *, vectors: bool = False, podcast_ids: Iterable[str | UUID] | None = None
    ) -> pd.DataFrame:
        """One row per episode: summary, topics, chapters (JSON), and their models."""
        columns = [*SUMMARY_COLUMNS, *(["vector"] if vectors else [])]
        return self._scan(self.index.summaries_table, columns, podcast_ids).to_pandas()

    def search_engine(self) -> SearchEngine:
        """Search over the active index with the in-process embedder (for evaluations); run
        its coroutines with :meth:`run`."""
        if self._engine is None:
            from models.embedder import LocalTextEmbedder

            embedder = LocalTextEmbedder(self.settings.models.embedder, artifacts=self._artifacts())
            self._engine = SearchEngine(
                self._lance, embedder, self.settings.search, index=FixedIndex(self.index)
            )
        return self._engine

    def search_quality(self, *, k: int = 10) -> QualityReport:
        """nDCG@k and recall@k of each search method on the labelled query set (meaningful
        where the labelled corpus is loaded: ``python -m tellmemore.research.corpus``)."""
        from models.embedder import LocalTextEmbedder
        from tellmemore.research.metrics import load_eval_set
        from tellmemore.research.quality import evaluate, standard_methods

        embedder = LocalTextEmbedder(self.settings.models.embedder, artifacts=self._artifacts())
        index = FixedIndex(self.index)

        def engine_for(settings: SearchSettings) -> SearchEngine:
            return SearchEngine(self._lance, embedder, settings, index=index)

        methods = standard_methods(self.settings.search)
        return self._run(evaluate(engine_for, load_eval_set(), methods, k=k))

    # ---- S3 ---------------------------------------------------------------------------------

    def transcript(self, episode_id: str | UUID) -> Transcript:
        """An episode's transcript (segments, word timings where the recogniser gave them)."""
        from models.captions import transcript_from_dict

        rows = self._read(
            "SELECT transcript_key FROM episodes WHERE id = %(id)s", {"id": str(episode_id)}
        )
        if rows.empty or rows.iloc[0]["transcript_key"] is None:
            raise LookupError(f"Episode {episode_id} has no transcript.")
        return transcript_from_dict(self._objects.get_json(str(rows.iloc[0]["transcript_key"])))

    def transcript_document(self, key: str) -> dict[str, Any]:
        """A transcript JSON document by its S3 key, as stored."""
        document: dict[str, Any] = self._objects.get_json(key)
        return document

    def transcript_vtt(self, episode_id: str | UUID) -> str:
        from models.captions import to_vtt

        return to_vtt(self.transcript(episode_id))

    # ---- running coroutines from synchronous code -------------------------------------------

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine to completion on this catalog's private loop (works inside Jupyter,
        whose own loop is already running)."""
        return self._run(coroutine)

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="research-loop", daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()
