"""Batch runs beside the online worker, on a real local Ray cluster with the real embedder: a
run leaves an episode the online worker is processing alone, and an episode the online worker
finishes again just before a re-embedding run switches readers over is in the new index with
its new passages. (Re-embedding only: the episodes are seeded straight into the index.)"""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import numpy as np
import psycopg
import pytest

from models.settings import EmbedderSettings
from models.types import ModelRef, RetrievalSegment
from pipelines.plan import parse_stages
from pipelines.run import HELD_ONLINE, BatchRun, RunOptions, RunReport
from pipelines.selection import Selection
from tellmemore.index import EpisodeMeta, SegmentStore, connect, index_for, registry
from tellmemore.search import sentences
from tellmemore.settings import Settings
from tests.pipeline.conftest import RayCluster
from tests.pipeline.helpers import active_index, lance_rows
from tests.storage.helpers import rows

pytestmark = pytest.mark.slow

DEFAULT = index_for(EmbedderSettings())
SEEDED = ModelRef("embedding", "seeded", "0")
DIMENSION = 384  # all-MiniLM-L6-v2's: the seeded rows share the batch run's tables


def run(settings: Settings, selection: Selection) -> RunReport:
    return BatchRun(settings).run(RunOptions(selection, parse_stages("embed")))


def write_passages(settings: Settings, podcast_id: str, episode_id: str, texts: list[str]) -> None:
    """What the online worker stores for an episode (vectors made up: re-embedding reads the
    texts)."""
    store = SegmentStore(connect(settings.lance, settings.s3), DIMENSION,
                         segments_table=DEFAULT.segments_table,
                         summaries_table=DEFAULT.summaries_table)  # fmt: skip
    segments = [
        RetrievalSegment(f"{episode_id}-{i}", episode_id, i, 60.0 * i, 60.0 * (i + 1), text,
                         ModelRef("segmenter", "passages", "1"), ModelRef("publisher", "vtt", "1"))
        for i, text in enumerate(texts)
    ]  # fmt: skip
    vectors = np.random.default_rng(len(texts)).standard_normal((len(texts), DIMENSION))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store.write_episode(EpisodeMeta(episode_id, podcast_id, "Seeded", "Herons", None), segments,
                        vectors.astype(np.float32), None, None, embedding_model=SEEDED)  # fmt: skip


@pytest.fixture(scope="module")
def seeded(batch_settings: Settings, database_url: str) -> dict[str, str]:
    """Three episodes the online worker processed an hour ago: x, y, z (and the podcast)."""
    made = {}
    with psycopg.connect(database_url, autocommit=True) as conn:
        podcast = str(uuid.uuid4())
        conn.execute("INSERT INTO podcasts (id, feed_url, title) VALUES (%s, %s, 'Herons')",
                     (podcast, f"https://example.invalid/{podcast}.xml"))  # fmt: skip
        for name in ("x", "y", "z"):
            row = conn.execute(
                "INSERT INTO episodes (podcast_id, identity_key, title, content_sha256, status, "
                "processed_at, embedding_model, segment_count) VALUES (%s, %s, %s, 'x', 'done', "
                "now() - interval '1 hour', %s, 2) RETURNING id::text",
                (podcast, name, name, SEEDED.id),
            ).fetchone()  # fmt: skip
            assert row is not None
            made[name] = row[0]
            write_passages(batch_settings, podcast, row[0],
                           [f"The heron of {name} waits in the shallows.",
                            f"Fish of {name} come down with the spring floods."])  # fmt: skip
    made["podcast"] = podcast
    return made


def ours(seeded: dict[str, str]) -> Selection:
    return Selection(podcast_ids=(UUID(seeded["podcast"]),))


def test_a_batch_run_leaves_an_episode_the_online_worker_is_processing(
    ray_cluster: RayCluster, batch_settings: Settings, database_url: str, seeded: dict[str, str]
) -> None:
    y = seeded["y"]
    before = {r["id"]: list(r["vector"]) for r in lance_rows(batch_settings, DEFAULT.segments_table)
              if r["episode_id"] == y}  # fmt: skip
    with psycopg.connect(database_url, autocommit=True) as conn:  # a worker just claimed y
        conn.execute(
            "INSERT INTO jobs (kind, key, state, attempts, locked_by, locked_until) VALUES "
            "('process_episode', %s, 'running', 1, 'online-worker', now() + interval '1 hour')",
            (y,),
        )
    try:
        report = run(batch_settings, ours(seeded))
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            job = conn.execute("SELECT state, locked_by, payload FROM jobs WHERE key = %s",
                               (y,)).fetchone()  # fmt: skip
            holds = conn.execute("SELECT count(*) FROM jobs WHERE payload ? 'hold'").fetchone()
            conn.execute("UPDATE jobs SET state = 'done', locked_until = NULL WHERE key = %s",
                         (y,))  # fmt: skip
    assert (report.done, report.failed, report.skip_reasons[HELD_ONLINE]) == (2, 0, 1), report
    # y is untouched: the online worker has it and records its outcome.
    after = {r["id"]: list(r["vector"]) for r in lance_rows(batch_settings, DEFAULT.segments_table)
             if r["episode_id"] == y}  # fmt: skip
    assert after == before
    (row,) = rows(database_url, "SELECT embedding_model FROM episodes WHERE id = %s", y)
    assert row["embedding_model"] == SEEDED.id
    assert rows(database_url, "SELECT 1 FROM batch_items WHERE episode_id = %s", y) == []
    assert job == ("running", "online-worker", {})
    assert holds == (0,)  # the run let go of every episode it held
    # The run stored each passage's sentence vectors with it, as online processing does, so
    # search highlights its hits by meaning (y's rows, seeded without, still have none).
    for passage in lance_rows(batch_settings, DEFAULT.segments_table, seeded["podcast"]):
        stored = passage["sentence_vectors"]
        if passage["episode_id"] == y:
            assert stored is None
            continue
        assert stored is not None and len(stored) == len(sentences(passage["text"])) >= 1
        norms = np.linalg.norm(np.asarray(stored, dtype=np.float32), axis=1)
        assert np.allclose(norms, 1.0, atol=1e-3)


def test_an_online_result_committed_just_before_the_switch_is_in_the_new_index(
    ray_cluster: RayCluster,
    batch_settings: Settings,
    database_url: str,
    seeded: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    space = EmbedderSettings(query_prefix="query: ", passage_prefix="passage: ")
    new_settings = batch_settings.model_copy(
        update={"models": batch_settings.models.model_copy(update={"embedder": space})}
    )
    new = index_for(space)
    x = seeded["x"]
    redone = ["The heron of x flew off over the mill.", "Nothing of x is left in the river.",
              "Only the water of x runs on."]  # fmt: skip
    switch = registry.activate

    async def online_write_then_switch(conn: Any, name: str) -> Any:
        # The online worker processed x again after the run re-embedded it, and committed just
        # before the switch: into the old (still active) index.
        write_passages(batch_settings, seeded["podcast"], x, redone)
        await conn.execute("UPDATE episodes SET processed_at = now(), segment_count = 3 "
                           "WHERE id = %s", (x,))  # fmt: skip
        return await switch(conn, name)

    monkeypatch.setattr(registry, "activate", online_write_then_switch)
    report = run(new_settings, ours(seeded))
    assert report.activated and report.failed == 0, report.index_note
    assert active_index(database_url) == new
    in_new = [r for r in lance_rows(batch_settings, new.segments_table) if r["episode_id"] == x]
    assert sorted(r["text"] for r in in_new) == sorted(redone)
    assert len(lance_rows(batch_settings, new.segments_table)) == len(
        lance_rows(batch_settings, DEFAULT.segments_table)
    )
