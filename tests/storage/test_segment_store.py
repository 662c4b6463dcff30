"""The LanceDB segment store on a real S3-protocol server: idempotent episode writes, stale rows
removed on re-segmentation, summaries upserted, and concurrent writers that all land."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import lancedb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pytest

from models.types import Chapter, ModelRef, RetrievalSegment, Summary
from tellmemore.index import (
    EpisodeMeta,
    SegmentStore,
    connect,
    retry_on_conflict,
    segments_schema,
    sql_string,
)
from tellmemore.settings import LanceSettings, S3Settings

DIM = 32
SEGMENTER = ModelRef("segmenter", "passages", "3")
WHISPER = ModelRef("asr", "whisper-tiny.en", "abc123")
EMBEDDER = ModelRef("embedding", "all-MiniLM-L6-v2", "def456")
LLM = ModelRef("llm", "qwen-tiny", "789")
PUBLISHED = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2)))


@pytest.fixture
def connect_db(s3_settings: S3Settings) -> Callable[[], lancedb.DBConnection]:
    """Connections to one LanceDB under a prefix of this test's own (each call a new one, as a
    separate replica would have)."""
    settings = LanceSettings(prefix=f"lance-test-{uuid.uuid4().hex[:10]}")
    return lambda: connect(settings, s3_settings)


@pytest.fixture
def store(connect_db: Callable[[], lancedb.DBConnection]) -> SegmentStore:
    return SegmentStore(connect_db(), DIM)


def episode(episode_id: str | None = None) -> EpisodeMeta:
    return EpisodeMeta(
        episode_id=episode_id or str(uuid.uuid4()),
        podcast_id="podcast-1",
        episode_title="On Rivers",
        podcast_title="Slow Water",
        published_at=PUBLISHED,
    )


def passages(meta: EpisodeMeta, count: int, *, wording: str = "take") -> list[RetrievalSegment]:
    return [
        RetrievalSegment(
            id=f"{meta.episode_id}:{i}",
            episode_id=meta.episode_id,
            index=i,
            start_s=60.0 * i,
            end_s=60.0 * i + 58.5,
            text=f"{wording} {i}: the river bends south here",
            model=SEGMENTER,
            source=WHISPER,
        )
        for i in range(count)
    ]


def unit_vectors(rows: int, dim: int = DIM, seed: int = 0) -> npt.NDArray[np.float32]:
    vectors = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    normalized: npt.NDArray[np.float32] = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return normalized


def summary(text: str = "Rivers, mostly.") -> Summary:
    return Summary(
        summary=text,
        topics=("rivers", "geography"),
        chapters=(Chapter(0.0, 120.0, "Sources"), Chapter(120.0, 300.0, "Deltas")),
        model=LLM,
    )


def write(
    store: SegmentStore, meta: EpisodeMeta, count: int, *, wording: str = "take", seed: int = 0
) -> npt.NDArray[np.float32]:
    vectors = unit_vectors(count + 1, seed=seed)
    store.write_episode(
        meta,
        passages(meta, count, wording=wording),
        vectors[:-1],
        summary(f"{wording} summary"),
        vectors[-1],
        embedding_model=EMBEDDER,
    )
    return vectors


def test_creates_both_tables_with_explicit_schemas(
    connect_db: Callable[[], lancedb.DBConnection],
) -> None:
    db = connect_db()
    SegmentStore(db, DIM)
    assert set(db.list_tables().tables) == {"segments", "episode_summaries"}
    segments = db.open_table("segments").schema
    assert segments.field("vector").type == pa.list_(pa.float32(), DIM)
    assert segments.field("index").type == pa.int32()
    assert segments.field("published_at").type == pa.timestamp("us", tz="UTC")
    assert segments.field("published_at").nullable and not segments.field("id").nullable
    summaries = db.open_table("episode_summaries").schema
    assert summaries.field("topics").type == pa.list_(pa.string())
    assert summaries.field("vector").type == pa.list_(pa.float32(), DIM)

    SegmentStore(connect_db(), DIM)  # opens what is there
    with pytest.raises(ValueError, match="vector is fixed_size_list"):
        SegmentStore(connect_db(), DIM * 2)
    renamed = SegmentStore(
        db, DIM * 2, segments_table="segments_v2", summaries_table="episode_summaries_v2"
    )
    assert renamed.count_segments() == 0
    assert len(db.list_tables().tables) == 4


def test_stores_created_at_once_by_several_processes_share_the_tables(
    connect_db: Callable[[], lancedb.DBConnection],
) -> None:
    stores: list[SegmentStore] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def create() -> None:
        db = connect_db()
        barrier.wait()
        try:
            stores.append(SegmentStore(db, DIM))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(stores) == 4
    # Every handle writes (one may have opened a version that a racing creation then replaced).
    metas = [episode() for _ in stores]
    for target, meta in zip(stores, metas, strict=True):
        write(target, meta, 3)
    for reader in stores:
        assert reader.count_segments() == 12
        assert all(reader.episode_summary(m.episode_id) is not None for m in metas)


def test_write_and_read_back_in_order(store: SegmentStore) -> None:
    meta = episode()
    segments = passages(meta, 5)
    vectors = unit_vectors(6)
    shuffled = [4, 0, 3, 1, 2]
    store.write_episode(
        meta,
        [segments[i] for i in shuffled],
        vectors[shuffled],
        summary(),
        vectors[5],
        embedding_model=EMBEDDER,
    )
    rows = store.episode_segments(meta.episode_id)
    assert [r["index"] for r in rows] == [0, 1, 2, 3, 4]
    assert [r["id"] for r in rows] == [s.id for s in segments]
    first = rows[1]
    assert first["text"] == segments[1].text
    assert (first["start_s"], first["end_s"]) == (60.0, 118.5)
    assert first["episode_id"] == meta.episode_id and first["podcast_id"] == "podcast-1"
    assert (first["episode_title"], first["podcast_title"]) == ("On Rivers", "Slow Water")
    assert first["published_at"] == PUBLISHED
    assert first["segmenter_model"] == "segmenter:passages@3"
    assert first["transcript_model"] == "asr:whisper-tiny.en@abc123"
    assert first["embedding_model"] == "embedding:all-MiniLM-L6-v2@def456"
    assert first["updated_at"].tzinfo is not None
    np.testing.assert_allclose(
        np.array([r["vector"] for r in rows], dtype=np.float32), vectors[:5], rtol=1e-6
    )
    assert store.count_segments(meta.episode_id) == 5
    assert store.episode_segments(str(uuid.uuid4())) == []


def test_rewriting_an_episode_replaces_never_duplicates(store: SegmentStore) -> None:
    meta, other = episode(), episode()
    write(store, other, 4)
    write(store, meta, 6, wording="first")
    write(store, meta, 6, wording="second", seed=1)
    assert store.count_segments(meta.episode_id) == 6
    assert store.count_segments() == 10
    rows = store.episode_segments(meta.episode_id)
    assert all(r["text"].startswith("second") for r in rows)
    np.testing.assert_allclose(rows[0]["vector"], unit_vectors(7, seed=1)[0], rtol=1e-6)


def test_fewer_segments_on_rewrite_leaves_no_stale_rows(store: SegmentStore) -> None:
    meta, other = episode(), episode()
    write(store, other, 4)
    write(store, meta, 8)
    write(store, meta, 3, wording="recut")
    rows = store.episode_segments(meta.episode_id)
    assert [r["index"] for r in rows] == [0, 1, 2]
    assert all(r["text"].startswith("recut") for r in rows)
    assert store.count_segments() == 7
    assert store.count_segments(other.episode_id) == 4
    store.write_episode(
        meta, [], np.zeros((0, DIM), np.float32), None, None, embedding_model=EMBEDDER
    )
    assert store.count_segments(meta.episode_id) == 0
    assert store.count_segments(other.episode_id) == 4


def test_summary_is_upserted_on_the_episode(store: SegmentStore) -> None:
    meta = episode()
    assert store.episode_summary(meta.episode_id) is None
    write(store, meta, 2, wording="first")
    vectors = write(store, meta, 2, wording="second", seed=2)
    row = store.episode_summary(meta.episode_id)
    assert row is not None
    assert row["summary"] == "second summary"
    assert row["topics"] == ["rivers", "geography"]
    assert row["chapters"] == [
        {"start_s": 0.0, "end_s": 120.0, "title": "Sources"},
        {"start_s": 120.0, "end_s": 300.0, "title": "Deltas"},
    ]
    assert (row["llm_model"], row["embedding_model"]) == ("llm:qwen-tiny@789", EMBEDDER.id)
    assert row["published_at"] == PUBLISHED and row["podcast_id"] == "podcast-1"
    np.testing.assert_allclose(row["vector"], vectors[-1], rtol=1e-6)
    # Without a summary the passages are rewritten and the stored summary stays.
    store.write_episode(
        meta, passages(meta, 2), unit_vectors(2), None, None, embedding_model=EMBEDDER
    )
    kept = store.episode_summary(meta.episode_id)
    assert kept is not None and kept["summary"] == "second summary"
    assert store._summaries.count_rows(f"episode_id = {sql_string(meta.episode_id)}") == 1


def test_episodes_written_concurrently_all_land(
    store: SegmentStore, connect_db: Callable[[], lancedb.DBConnection]
) -> None:
    """Two replicas (separate connections), two threads each, different episodes at once."""
    replica = SegmentStore(connect_db(), DIM)
    jobs = [(store, episode(), 12), (store, episode(), 9), (replica, episode(), 15)]
    jobs.append((replica, episode(), 7))
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(jobs))

    def run(target: SegmentStore, meta: EpisodeMeta, count: int) -> None:
        barrier.wait()
        try:
            write(target, meta, count, seed=count)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for reader in (store, replica):
        assert reader.count_segments() == 12 + 9 + 15 + 7
        for _, meta, count in jobs:
            assert [r["index"] for r in reader.episode_segments(meta.episode_id)] == list(
                range(count)
            )
            assert reader.episode_summary(meta.episode_id) is not None


def test_vectors_of_the_wrong_shape_are_refused(store: SegmentStore) -> None:
    meta = episode()
    segments = passages(meta, 3)
    with pytest.raises(ValueError, match=r"vectors has shape \(3, 16\); expected \(3, 32\)"):
        store.write_episode(
            meta, segments, unit_vectors(3, dim=16), None, None, embedding_model=EMBEDDER
        )
    with pytest.raises(ValueError, match=r"expected \(3, 32\)"):
        store.write_episode(meta, segments, unit_vectors(2), None, None, embedding_model=EMBEDDER)
    with pytest.raises(ValueError, match="summary_vector has shape"):
        store.write_episode(
            meta,
            segments,
            unit_vectors(3),
            summary(),
            unit_vectors(1, dim=DIM + 1)[0],
            embedding_model=EMBEDDER,
        )
    with pytest.raises(ValueError, match="both or neither"):
        store.write_episode(
            meta, segments, unit_vectors(3), summary(), None, embedding_model=EMBEDDER
        )
    bad = unit_vectors(3)
    bad[1, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        store.write_episode(meta, segments, bad, None, None, embedding_model=EMBEDDER)
    naive = EpisodeMeta(meta.episode_id, "p", "t", "pt", datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        store.write_episode(naive, segments, unit_vectors(3), None, None, embedding_model=EMBEDDER)
    assert store.count_segments() == 0
    assert store.episode_summary(meta.episode_id) is None


def test_delete_episode_removes_its_rows_only(store: SegmentStore) -> None:
    meta, other = episode(), episode()
    write(store, meta, 5)
    write(store, other, 2)
    store.delete_episode(meta.episode_id)
    assert store.count_segments(meta.episode_id) == 0
    assert store.episode_summary(meta.episode_id) is None
    assert store.count_segments(other.episode_id) == 2
    assert store.episode_summary(other.episode_id) is not None
    store.delete_episode(meta.episode_id)  # nothing there: fine


def test_ids_with_quotes_are_literals_in_filters(store: SegmentStore) -> None:
    tricky, plain = episode("o'brien' OR '1'='1"), episode("o")
    write(store, tricky, 2)
    write(store, plain, 3)
    assert store.count_segments(tricky.episode_id) == 2
    assert [r["episode_id"] for r in store.episode_segments(tricky.episode_id)] == [
        tricky.episode_id
    ] * 2
    write(store, tricky, 1)
    store.delete_episode(tricky.episode_id)
    assert store.count_segments() == 3


def test_lost_commits_are_retried_a_bounded_number_of_times() -> None:
    calls: list[int] = []

    def conflicting(times: int) -> Callable[[], str]:
        def operation() -> str:
            calls.append(1)
            if len(calls) <= times:
                raise RuntimeError(
                    "lance error: Retryable commit conflict for version 7: This Update "
                    "transaction was preempted by concurrent transaction Update at version 7."
                )
            return "done"

        return operation

    assert retry_on_conflict(conflicting(2), what="x", base_delay_s=0) == "done"
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(RuntimeError, match="Retryable commit conflict"):
        retry_on_conflict(conflicting(10), what="x", attempts=3, base_delay_s=0)
    assert len(calls) == 3
    calls.clear()

    def broken() -> None:
        calls.append(1)
        raise RuntimeError("some other failure")

    with pytest.raises(RuntimeError, match="other failure"):
        retry_on_conflict(broken, what="x", base_delay_s=0)
    assert len(calls) == 1


def test_published_at_is_stored_in_utc(store: SegmentStore) -> None:
    meta = episode()
    write(store, meta, 1)
    stored = store.episode_segments(meta.episode_id)[0]["published_at"]
    assert stored == PUBLISHED and stored.utcoffset() == timedelta(0)
    assert stored.astimezone(UTC).hour == 5


def test_sentence_vectors_are_stored_with_their_passages(store: SegmentStore) -> None:
    meta = episode()
    segments = passages(meta, 3)
    vectors = unit_vectors(4)
    sentences: list[npt.NDArray[np.float32] | None] = [unit_vectors(2, seed=1), None, None]
    sentences[2] = unit_vectors(1, seed=2)
    store.write_episode(meta, segments, vectors[:-1], summary(), vectors[-1],
                        embedding_model=EMBEDDER, sentence_vectors=sentences)  # fmt: skip
    rows = store.episode_segments(meta.episode_id)
    assert np.allclose(rows[0]["sentence_vectors"], unit_vectors(2, seed=1))
    assert rows[1]["sentence_vectors"] is None  # a passage without them reads as null
    assert np.allclose(rows[2]["sentence_vectors"], unit_vectors(1, seed=2))

    write(store, meta, 3)  # rewritten without sentence vectors: none stay from before
    assert all(r["sentence_vectors"] is None for r in store.episode_segments(meta.episode_id))
    wrong = [unit_vectors(2, dim=DIM + 1), None, None]
    with pytest.raises(ValueError, match=r"sentence_vectors\[0\] has shape"):
        store.write_episode(meta, segments, vectors[:-1], None, None, embedding_model=EMBEDDER,
                            sentence_vectors=wrong)  # fmt: skip
    with pytest.raises(ValueError, match="2 entries for 3 segments"):
        store.write_episode(meta, segments, vectors[:-1], None, None, embedding_model=EMBEDDER,
                            sentence_vectors=[None, None])  # fmt: skip


def test_a_table_from_before_sentence_vectors_gets_the_column(
    connect_db: Callable[[], lancedb.DBConnection],
) -> None:
    db = connect_db()
    old = pa.schema([f for f in segments_schema(DIM) if f.name != "sentence_vectors"])
    table = db.create_table("segments", schema=old)
    meta = episode()
    rows = SegmentStore(db, DIM)  # adds the column to the old table
    assert "sentence_vectors" in db.open_table("segments").schema.names
    write(rows, meta, 2)
    assert rows.count_segments(meta.episode_id) == 2
    assert table.name == "segments"
    SegmentStore(connect_db(), DIM)  # a second opener finds it there
    with pytest.raises(ValueError, match="vector is fixed_size_list"):
        SegmentStore(connect_db(), DIM * 2)  # refused before anything is added
