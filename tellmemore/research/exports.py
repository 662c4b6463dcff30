"""Exports for research: passages with embeddings as Parquet, transcripts as JSON or WebVTT.

The Parquet export is a hive-partitioned dataset (``podcast_id=<id>/part-0.parquet``), so a
reader takes one show or all of them with ``pyarrow.dataset`` or pandas, and every file carries
the index, embedding model and export time in its schema metadata. Transcripts are one file per
episode under ``<podcast_id>/``; an episode whose transcript cannot be read is reported with
its reason and the export goes on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from uuid import UUID

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from tellmemore.research.catalog import EPISODE_META, ResearchCatalog
from tellmemore.storage import StorageError

TranscriptFormat = Literal["json", "vtt"]


@dataclass(frozen=True)
class ExportReport:
    path: Path
    files: int
    rows: int  # passages (segments) or transcripts written
    podcasts: int
    skipped: dict[str, str] = field(default_factory=dict)  # episode id -> why


def export_segments(
    catalog: ResearchCatalog,
    out: Path,
    *,
    podcast_ids: Iterable[str | UUID] | None = None,
    vectors: bool = True,
) -> ExportReport:
    """Passages (with embeddings unless ``vectors`` is false) and their episode metadata as
    Parquet partitioned by podcast. Rewrites the partitions it writes, keeps others."""
    ids = None if podcast_ids is None else list(podcast_ids)
    table = catalog.segments_arrow(vectors=vectors, podcast_ids=ids)
    episodes = catalog.episodes(ids)
    if table.num_rows and not episodes.empty:
        meta = pa.Table.from_pandas(episodes[["episode_id", *EPISODE_META]], preserve_index=False)
        # pandas hands strings back as large_string; the tables' keys are string.
        meta = meta.cast(pa.schema([
            f.with_type(pa.string()) if pa.types.is_large_string(f.type) else f
            for f in meta.schema
        ]))  # fmt: skip
        # A lookup rather than Table.join, which cannot carry the fixed-size vector column.
        rows = pc.index_in(table.column("episode_id"), value_set=meta.column("episode_id"))
        for name in EPISODE_META:
            table = table.append_column(meta.schema.field(name), meta.column(name).take(rows))
    index = catalog.index
    table = table.replace_schema_metadata({
        "tellmemore.index": index.name,
        "tellmemore.embedder": index.embedder.model,
        "tellmemore.exported_at": datetime.now(UTC).isoformat(),
    })  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    if table.num_rows:
        ds.write_dataset(
            table, out, format="parquet", basename_template="part-{i}.parquet",
            partitioning=["podcast_id"], partitioning_flavor="hive",
            existing_data_behavior="delete_matching",
            file_visitor=lambda f: written.append(f.path),
        )  # fmt: skip
    podcasts = len(set(table.column("podcast_id").to_pylist())) if table.num_rows else 0
    return ExportReport(out, len(written), table.num_rows, podcasts)


def export_transcripts(
    catalog: ResearchCatalog,
    out: Path,
    *,
    fmt: TranscriptFormat = "json",
    podcast_ids: Iterable[str | UUID] | None = None,
) -> ExportReport:
    """One file per episode with a transcript: ``<podcast_id>/<episode_id>.json`` (the stored
    document: segments with word timings, language, model) or ``.vtt`` (captions)."""
    from models.captions import to_vtt, transcript_from_dict
    from models.errors import ModelError

    episodes = catalog.episodes(None if podcast_ids is None else list(podcast_ids))
    skipped: dict[str, str] = {}
    files = 0
    podcasts: set[str] = set()
    for row in episodes.itertuples() if not episodes.empty else ():
        if not row.transcript_key:
            continue
        try:
            document = catalog.transcript_document(str(row.transcript_key))
            text = (json.dumps(document, ensure_ascii=False, indent=1) if fmt == "json"
                    else to_vtt(transcript_from_dict(document)))  # fmt: skip
        except (StorageError, ModelError, ValueError) as exc:
            skipped[str(row.episode_id)] = str(exc)
            continue
        target = out / str(row.podcast_id) / f"{row.episode_id}.{fmt}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        files += 1
        podcasts.add(str(row.podcast_id))
    return ExportReport(out, files, files, len(podcasts), skipped)
