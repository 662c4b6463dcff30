"""Inputs a run does not remake, read from what is stored: passages and summaries from the
active search index (LanceDB), so re-embedding never touches audio or the LLM."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pyarrow as pa

from models.types import Chapter, RetrievalSegment, Summary
from pipelines.rows import (
    failed,
    from_table,
    parse_ref,
    segments_to_json,
    summary_to_json,
    to_table,
)
from tellmemore.index import SearchIndex, connect, sql_string
from tellmemore.processing import ProcessingError
from tellmemore.settings import Settings

_PASSAGE_COLUMNS = ["id", "episode_id", "index", "start_s", "end_s", "text", "segmenter_model",
                    "transcript_model"]  # fmt: skip
_SUMMARY_COLUMNS = ["episode_id", "summary", "topics", "chapters", "llm_model"]


def load_stored_block(
    table: pa.Table,
    settings: Settings,
    source: SearchIndex,
    *,
    passages: bool,
    summaries: bool,
) -> pa.Table:
    items = from_table(table)
    wanted = [i.episode_id for i in items if not i.failed]
    if not wanted:
        return table
    db = connect(settings.lance, settings.s3)
    names = set(db.table_names())
    stored_passages = (
        _rows(db, source.segments_table, _PASSAGE_COLUMNS, wanted, names) if passages else {}
    )
    stored_summaries = (
        _rows(db, source.summaries_table, _SUMMARY_COLUMNS, wanted, names) if summaries else {}
    )
    out = []
    for item in items:
        if item.failed:
            out.append(item)
            continue
        if passages and not item.segments:
            rows = sorted(stored_passages.get(item.episode_id, []), key=lambda r: r["index"])
            if not rows:
                out.append(failed(item, "load", ProcessingError(
                    "no_passages",
                    f"The episode has no passages in the search index {source.name!r}; run "
                    "the segment stage for it.",
                    retryable=False,
                )))  # fmt: skip
                continue
            item = replace(item, segments=segments_to_json([_passage(r) for r in rows]))
        if summaries and not item.summary:
            found = stored_summaries.get(item.episode_id)
            if found:
                item = replace(item, summary=summary_to_json(_summary(found[0])))
        out.append(item)
    return to_table(out)


def _rows(
    db: Any, table_name: str, columns: list[str], episode_ids: list[str], names: set[str]
) -> dict[str, list[dict[str, Any]]]:
    if table_name not in names:
        return {}
    table = db.open_table(table_name)
    listed = ", ".join(sql_string(e) for e in episode_ids)
    found = table.search().where(f"episode_id IN ({listed})").select(columns).limit(None).to_arrow()
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in found.to_pylist():
        grouped.setdefault(row["episode_id"], []).append(row)
    return grouped


def _passage(row: dict[str, Any]) -> RetrievalSegment:
    return RetrievalSegment(
        id=row["id"], episode_id=row["episode_id"], index=int(row["index"]),
        start_s=float(row["start_s"]), end_s=float(row["end_s"]), text=row["text"],
        model=parse_ref(row["segmenter_model"]), source=parse_ref(row["transcript_model"]),
    )  # fmt: skip


def _summary(row: dict[str, Any]) -> Summary:
    chapters = json.loads(row["chapters"])
    return Summary(
        summary=row["summary"],
        topics=tuple(row["topics"] or ()),
        chapters=tuple(Chapter(c["start_s"], c["end_s"], c["title"]) for c in chapters),
        model=parse_ref(row["llm_model"]),
    )
