"""The read-only research API and the export commands, on the labelled demo catalog (real
PostgreSQL, LanceDB on the S3 server, transcripts in S3), and on LanceDB in a local folder."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pyarrow.dataset as ds
import pytest

from models.embedder import Embedder
from tellmemore.index import SegmentStore, connect
from tellmemore.research import (
    EvalSet,
    LoadedCatalog,
    ResearchCatalog,
    entity_id,
    segment_id,
    store_eval_passages,
)
from tellmemore.settings import LanceSettings, Settings
from tests.research.conftest import embed_with
from tests.support.cli_env import cli_env

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="module")
def catalog(demo_catalog: LoadedCatalog, demo_settings: Settings) -> ResearchCatalog:
    return ResearchCatalog(demo_settings)


def tmm(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    tool = str(Path(sys.executable).parent / "tmm")
    return subprocess.run([tool, *args], env={**os.environ, **cli_env(settings)}, cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip


def test_podcasts_and_episodes_come_from_postgresql(
    catalog: ResearchCatalog, corpus: EvalSet
) -> None:
    podcasts = catalog.podcasts()
    assert sorted(podcasts["title"]) == sorted(p.title for p in corpus.podcasts)
    assert (podcasts["episodes"] == 4).all() and (podcasts["done"] == 4).all()
    episodes = catalog.episodes()
    assert len(episodes) == 24 and set(episodes["status"]) == {"done"}
    assert set(episodes["transcript_source"]) == {"publisher"}
    assert episodes["embedding_model"].str.startswith("embedding:all-MiniLM-L6-v2@").all()
    one = str(entity_id(corpus.podcasts[0].id))
    mine = catalog.episodes([one])
    assert len(mine) == 4 and set(mine["podcast_title"]) == {corpus.podcasts[0].title}


def test_segments_come_from_lancedb_with_the_episodes_metadata(
    catalog: ResearchCatalog, corpus: EvalSet
) -> None:
    segments = catalog.segments()
    passages = {segment_id(p.id): p for pod in corpus.podcasts for e in pod.episodes
                for p in e.passages}  # fmt: skip
    assert len(segments) == len(passages) == 246
    assert set(segments["id"]) == set(passages)
    row = segments.iloc[0]
    assert row["text"] == passages[row["id"]].text and row["start_s"] < row["end_s"]
    assert "vector" not in segments.columns
    assert set(segments["status"]) == {"done"} and segments["duration_s"].notna().all()
    first = str(entity_id(corpus.podcasts[0].id))
    with_vectors = catalog.segments(vectors=True, podcast_ids=[first])
    assert 0 < len(with_vectors) < len(segments)
    assert {len(v) for v in with_vectors["vector"]} == {384}
    summaries = catalog.summaries()
    assert len(summaries) == 24 and summaries["summary"].str.len().min() > 40


def test_nothing_it_opens_can_write(catalog: ResearchCatalog) -> None:
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        catalog.query("DELETE FROM podcasts")
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        catalog.query("UPDATE episodes SET title = 'x' RETURNING id")
    assert len(catalog.podcasts()) == 6
    assert catalog.query("SELECT count(*) AS n FROM episodes")["n"][0] == 24


def test_transcripts_come_from_s3(catalog: ResearchCatalog, corpus: EvalSet) -> None:
    episode = corpus.podcasts[0].episodes[0]
    transcript = catalog.transcript(entity_id(episode.id))
    assert [s.text for s in transcript.segments] == [p.text for p in episode.passages]
    vtt = catalog.transcript_vtt(entity_id(episode.id))
    assert vtt.startswith("WEBVTT") and "-->" in vtt
    with pytest.raises(LookupError, match="no transcript"):
        catalog.transcript("00000000-0000-0000-0000-000000000000")


def test_a_catalog_in_a_local_folder(
    demo_catalog: LoadedCatalog,
    demo_settings: Settings,
    corpus: EvalSet,
    embedder_model: Embedder,
    corpus_cache: Path,
    tmp_path: Path,
) -> None:
    local = demo_settings.model_copy(update={"lance": LanceSettings(location=str(tmp_path))})
    store = SegmentStore(connect(local.lance, local.s3), embedder_model.dimension)
    asyncio.run(store_eval_passages(corpus, store, embed_with(embedder_model),
                                    cache_dir=corpus_cache))  # fmt: skip
    with ResearchCatalog.open(local) as catalog:
        assert len(catalog.segments()) == 246
        assert (tmp_path / local.lance.prefix / "segments.lance").is_dir()


def test_search_quality_per_method(catalog: ResearchCatalog) -> None:
    report = catalog.search_quality(k=10)
    summary = report.summary()
    assert list(summary.index)[:2] == ["semantic", "full-text (BM25)"]
    hybrid = summary.index[2]
    assert summary.loc[hybrid, ("ndcg", "all")] >= summary.loc["semantic", ("ndcg", "all")] - 1e-9
    assert summary.loc[hybrid, ("ndcg", "all")] > 0.5
    worst = report.worst(hybrid, n=3)
    assert len(worst) == 3 and worst["ndcg"].is_monotonic_increasing


def test_export_segments_as_parquet_partitioned_by_podcast(
    demo_catalog: LoadedCatalog, demo_settings: Settings, corpus: EvalSet, tmp_path: Path
) -> None:
    out = tmp_path / "segments"
    done = tmm(demo_settings, "export", "segments", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["rows"], report["podcasts"], report["files"]) == (246, 6, 6)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"podcast_id={entity_id(p.id)}" for p in corpus.podcasts
    )
    dataset = ds.dataset(out, format="parquet", partitioning="hive")
    table = dataset.to_table()
    assert table.num_rows == 246
    expected = {"id", "text", "start_s", "end_s", "vector", "episode_title", "podcast_title",
                "status", "duration_s", "embedding_model", "podcast_id"}  # fmt: skip
    assert expected <= set(table.column_names)
    assert table.schema.field("vector").type.list_size == 384
    metadata = dataset.schema.metadata or {}
    assert metadata[b"tellmemore.index"] == b"default"

    one = str(entity_id(corpus.podcasts[2].id))
    again = tmm(demo_settings, "export", "segments", str(out), "--podcast", one, "--no-vectors")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["podcasts"] == 1
    part = ds.dataset(out / f"podcast_id={one}", format="parquet").to_table()
    assert "vector" not in part.column_names  # the partition was rewritten, the others kept
    assert ds.dataset(out, format="parquet", partitioning="hive").count_rows() == 246


def test_export_transcripts_as_json_and_vtt(
    demo_catalog: LoadedCatalog, demo_settings: Settings, corpus: EvalSet, tmp_path: Path
) -> None:
    episode = corpus.podcasts[1].episodes[2]
    podcast_id, episode_id = entity_id(corpus.podcasts[1].id), entity_id(episode.id)
    for fmt in ("json", "vtt"):
        out = tmp_path / fmt
        done = tmm(demo_settings, "export", "transcripts", str(out), "--format", fmt)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["files"] == 24
        text = (out / str(podcast_id) / f"{episode_id}.{fmt}").read_text()
        if fmt == "json":
            document = json.loads(text)
            assert [s["text"] for s in document["segments"]] == [p.text for p in episode.passages]
        else:
            assert text.startswith("WEBVTT") and episode.passages[0].text.split()[0] in text

    # An episode whose transcript object is gone is reported, and the rest still export.
    with psycopg.connect(demo_settings.database.url, autocommit=True) as conn:
        key = conn.execute("SELECT transcript_key FROM episodes WHERE id = %s",
                           (episode_id,)).fetchone()[0]  # type: ignore[index]  # fmt: skip
        conn.execute("UPDATE episodes SET transcript_key = 'transcripts/missing.json' "
                     "WHERE id = %s", (episode_id,))  # fmt: skip
        try:
            done = tmm(demo_settings, "export", "transcripts", str(tmp_path / "partial"))
        finally:
            conn.execute("UPDATE episodes SET transcript_key = %s WHERE id = %s",
                         (key, episode_id))  # fmt: skip
    report = json.loads(done.stdout)
    assert report["files"] == 23 and list(report["skipped"]) == [str(episode_id)]

    bad = tmm(demo_settings, "export", "transcripts", str(tmp_path / "x"), "--format", "srt")
    assert bad.returncode == 2 and "bad_format" in bad.stderr
