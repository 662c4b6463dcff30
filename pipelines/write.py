"""The write stage: each finished episode's transcript to S3, passages and summary merged into
the target index on their stable ids, outputs and the ledger to PostgreSQL; each failed one
recorded with its reason. An episode is written only while the run still holds it
(:mod:`pipelines.leases`). Rows leave this stage slim (no vectors or texts): the driver only
counts and reports them.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import replace
from typing import Any
from uuid import UUID

import pyarrow as pa

from models.captions import transcript_from_dict
from pipelines import ledger
from pipelines.leases import still_ours
from pipelines.plan import Plan, Stage
from pipelines.rows import (
    Item,
    failed,
    from_table,
    parse_ref,
    segments_from_json,
    sentence_vectors_from,
    summary_from_json,
    to_table,
    vectors_from,
)
from raykit.metrics import install as install_metrics
from tellmemore.index import EpisodeMeta, SegmentStore, connect
from tellmemore.metrics import BATCH_EPISODES
from tellmemore.processing import ProcessingError, transcript_key
from tellmemore.settings import Settings
from tellmemore.storage import ObjectStore, StorageError

log = logging.getLogger(__name__)


class Write:
    def __init__(self, settings: Settings, plan: Plan, run_id: str) -> None:
        self._settings = settings
        self._plan = plan
        self._run_id = run_id
        self._lance = connect(settings.lance, settings.s3)
        self._objects = ObjectStore(settings.s3)
        self._conn = ledger.connect(settings.database.url)
        self._store: SegmentStore | None = None
        install_metrics()

    def __call__(self, table: pa.Table) -> pa.Table:
        out = []
        for item in from_table(table):
            if not item.failed:
                try:
                    item = self._write(item)
                except Exception as exc:
                    log.exception("writing episode %s failed", item.episode_id)
                    item = failed(item, "write", exc)
            if item.failed:
                self._record_failure(item)
            out.append(_slim(item))
        return to_table(out)

    def _write(self, item: Item) -> Item:
        if not still_ours(self._conn, self._plan, item.episode_id, self._settings.batch.lease_s):
            raise ProcessingError(
                "lease_lost",
                "The run's hold on this episode lapsed, so the online worker may have it now; "
                "nothing was written. A rerun retries it.",
                retryable=True,
            )
        outputs: dict[str, Any] = {}
        if item.transcript:
            transcript = transcript_from_dict(json.loads(item.transcript))
            key = transcript_key_of(item)
            self._objects.put_json(key, json.loads(item.transcript))
            outputs.update(transcript_key=key, transcript_source=item.transcript_source,
                           transcript_model=transcript.model.id,
                           audio_duration_s=transcript.duration_s or None)  # fmt: skip
        segments = segments_from_json(item.segments)
        summary = summary_from_json(item.summary) if item.summary else None
        vectors = vectors_from(item)
        sentence_vectors = sentence_vectors_from(item, [s.text for s in segments])
        store = self._target(item.dimension)
        store.write_episode(
            EpisodeMeta(item.episode_id, item.podcast_id, item.title, item.podcast_title,
                        item.published_at),
            segments,
            vectors[: len(segments)],
            summary,
            vectors[len(segments)] if summary is not None else None,
            embedding_model=parse_ref(item.embedding_model),
            sentence_vectors=sentence_vectors,
        )  # fmt: skip
        if Stage.SEGMENT in self._plan.stages:
            outputs.update(segmenter_model=segments[0].model.id, segment_count=len(segments))
        if summary is not None and item.summary_is_new:
            outputs.update(llm_model=summary.model.id, summary=_summary_doc(summary))
        outputs["embedding_model"] = item.embedding_model
        if item.publisher_chapters:
            outputs["publisher_chapters"] = json.loads(item.publisher_chapters)
        ledger.record_done(self._conn, self._plan, self._run_id, item.episode_id,
                           ledger.DoneOutputs(**outputs))  # fmt: skip
        BATCH_EPISODES.labels(self._run_id, "done").inc()
        self._drop_staged(item)
        return replace(item, segment_count=len(segments))

    def _target(self, dimension: int) -> SegmentStore:
        if self._store is None or self._store.dimension != dimension:
            target = self._plan.target
            self._store = SegmentStore(self._lance, dimension,
                                       segments_table=target.segments_table,
                                       summaries_table=target.summaries_table)  # fmt: skip
        return self._store

    def _record_failure(self, item: Item) -> None:
        ledger.record_failed(self._conn, self._plan, self._run_id, item.episode_id,
                             stage=item.error_stage, code=item.error_code,
                             message=item.error_message, retryable=item.retryable)  # fmt: skip
        BATCH_EPISODES.labels(self._run_id, "failed").inc()
        if not item.retryable:
            self._drop_staged(item)  # a rerun would fail the same way: no need to keep it

    def _drop_staged(self, item: Item) -> None:
        if item.audio_key:
            with contextlib.suppress(StorageError):
                self._objects.delete(item.audio_key)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.close()


def transcript_key_of(item: Item) -> str:
    return transcript_key(UUID(item.episode_id))


def _summary_doc(summary: Any) -> dict[str, Any]:
    return {
        "summary": summary.summary,
        "topics": list(summary.topics),
        "chapters": [
            {"start_s": c.start_s, "end_s": c.end_s, "title": c.title} for c in summary.chapters
        ],
    }


def _slim(item: Item) -> Item:
    return replace(item, transcript="", segments="", summary="", vectors=b"",
                   sentence_vectors=b"", publisher_transcripts="", segmenter_sentences="",
                   segmenter_vectors=b"")  # fmt: skip
