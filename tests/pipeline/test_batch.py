"""The batch pipeline on a real local Ray cluster, the real S3 server and PostgreSQL, with the
real models (Whisper tiny.en, vLLM on CPU, MiniLM): a backlog end to end, an idempotent rerun,
a failed episode that fails alone, a run killed part-way and resumed, and re-embedding into a
new index that readers switch to while the old one still answers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from models.evaluation import word_error_rate
from models.settings import EmbedderSettings
from pipelines.plan import Stage, parse_stages
from pipelines.run import BatchRun, RunOptions, RunReport, pinned, target_models
from pipelines.selection import Selection
from tellmemore.index import FixedIndex, connect, index_for, resegmented
from tellmemore.search import SearchMode
from tellmemore.settings import Settings
from tellmemore.storage import ObjectStore
from tests.pipeline.conftest import Backlog, RayCluster, publish
from tests.pipeline.helpers import (
    active_index,
    cli,
    cli_env,
    done_in_ledger,
    lance_rows,
    search_engine,
)
from tests.storage.helpers import rows
from tests.support.http_server import LoopbackHTTPServer
from tests.support.monitoring import queried_series
from tests.support.scrape import Scrape, scrape_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT = index_for(EmbedderSettings())
CHAPTERS = json.dumps(
    {"version": "1.2.0", "chapters": [{"startTime": 0, "title": "Opening"},
                                      {"startTime": 3, "endTime": 5, "title": "A reading"}]}
).encode()  # fmt: skip


def run(settings: Settings, stages: str = "all", **options: Any) -> RunReport:
    return BatchRun(settings).run(RunOptions(stages=parse_stages(stages), **options))


@pytest.fixture(scope="module")
def backlog(
    ray_cluster: RayCluster,
    batch_settings: Settings,
    feed_server: LoopbackHTTPServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Backlog:
    folder = tmp_path_factory.mktemp("backlog")
    return publish(
        batch_settings,
        feed_server,
        folder,
        {"a": [0, 1], "b": [2], "c": [3, 4], "gone": "404", "broken": "corrupt"},
        chapters={"a": CHAPTERS, "b": None},  # b's document is not there
    )


@pytest.fixture(scope="module")
def second_backlog(
    backlog: Backlog,
    batch_settings: Settings,
    feed_server: LoopbackHTTPServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Backlog:
    return publish(batch_settings, feed_server, tmp_path_factory.mktemp("more"),
                   {"d": [1], "e": [2, 3], "f": [4], "g": [0, 2]})  # fmt: skip


@pytest.fixture(scope="module")
def third_backlog(
    second_backlog: Backlog,
    batch_settings: Settings,
    feed_server: LoopbackHTTPServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Backlog:
    return publish(batch_settings, feed_server, tmp_path_factory.mktemp("third"),
                   {"h": [3], "i": [0, 4], "j": [1, 2]})  # fmt: skip


@pytest.fixture(scope="module")
def first_run(backlog: Backlog, batch_settings: Settings) -> RunReport:
    return run(batch_settings, selection=Selection(podcast_ids=(_uuid(backlog.podcast_id),)))


def _uuid(text: str) -> Any:
    from uuid import UUID

    return UUID(text)


def test_a_backlog_is_processed_end_to_end(
    first_run: RunReport, backlog: Backlog, batch_settings: Settings, database_url: str
) -> None:
    assert (first_run.selected, first_run.done, first_run.skipped, first_run.failed) == (5, 3, 0, 2)
    episodes = {r["guid"]: r for r in rows(
        database_url,
        "SELECT guid, status, transcript_key, transcript_source, transcript_model, llm_model, "
        "embedding_model, segment_count, summary, error_code, publisher_chapters "
        "FROM episodes WHERE podcast_id = %s",
        backlog.podcast_id,
    )}  # fmt: skip
    objects = ObjectStore(batch_settings.s3)
    passages = lance_rows(batch_settings, DEFAULT.segments_table, backlog.podcast_id)
    for guid in ("a", "b", "c"):
        row = episodes[guid]
        assert row["status"] == "done" and row["transcript_source"] == "asr"
        assert row["transcript_model"].startswith("asr:whisper-tiny.en@")
        assert row["llm_model"].startswith("llm:smollm2-135m@")
        assert row["embedding_model"].startswith("embedding:all-MiniLM-L6-v2@")
        assert len(row["summary"]["summary"]) >= 40
        transcript = objects.get_json(row["transcript_key"])
        said = " ".join(s["text"] for s in transcript["segments"])
        assert word_error_rate(backlog.spoken[guid], said) < 0.35, said
        mine = [p for p in passages if p["episode_id"] == backlog.episode_ids[guid]]
        assert len(mine) == row["segment_count"] >= 1
    # Staged audio is removed once an episode is written (or failed for good).
    assert objects.keys("audio/") == [] or not any(
        backlog.episode_ids[g] in k for g in backlog.episode_ids for k in objects.keys("audio/")
    )
    summaries = lance_rows(batch_settings, DEFAULT.summaries_table, backlog.podcast_id)
    assert len(summaries) == 3
    # The publisher's chapters, read by the download stage: a's document, none for c (its
    # feed offers none), and b's missing document leaves nothing recorded.
    assert episodes["a"]["publisher_chapters"] == [
        {"start_s": 0.0, "end_s": 3.0, "title": "Opening"},
        {"start_s": 3.0, "end_s": 5.0, "title": "A reading"},
    ]
    assert episodes["c"]["publisher_chapters"] == []
    assert episodes["b"]["publisher_chapters"] is None


def test_a_broken_episode_fails_alone_with_its_reason(
    first_run: RunReport, backlog: Backlog, database_url: str
) -> None:
    failures = {f.episode_id: f for f in first_run.failures}
    gone = failures[backlog.episode_ids["gone"]]
    assert (gone.stage, gone.code) == ("download", "enclosure_not_found")
    broken = failures[backlog.episode_ids["broken"]]
    assert broken.stage in ("download", "transcribe") and broken.code and broken.reason
    recorded = rows(
        database_url,
        "SELECT e.guid, e.status, e.error_code, b.outcome, b.stage, b.error_message "
        "FROM episodes e JOIN batch_items b ON b.episode_id = e.id WHERE e.podcast_id = %s "
        "AND b.outcome = 'failed'",
        backlog.podcast_id,
    )
    assert {r["guid"] for r in recorded} == {"gone", "broken"}
    assert all(r["status"] == "failed" and r["error_code"] and r["error_message"]
               for r in recorded)  # fmt: skip


def test_run_progress_reaches_the_metrics(first_run: RunReport, ray_cluster: RayCluster) -> None:
    """The run's progress as Prometheus sees it: planned by the driver, finished episodes
    counted by the writer actors as they commit, and the ledger's database time."""
    run = first_run.run_id

    def ready(s: Scrape) -> bool:
        return s.total("ray_tmm_batch_episodes_total", run=run) >= 5

    scrape = scrape_until(ray_cluster.metrics_url, ready)
    assert scrape.total("ray_tmm_batch_planned_episodes_total", run=run) == 5
    assert scrape.total("ray_tmm_batch_episodes_total", run=run, outcome="done") == 3
    assert scrape.total("ray_tmm_batch_episodes_total", run=run, outcome="failed") == 2
    assert scrape.total("ray_tmm_db_query_seconds_count", statement="insert") >= 5
    missing = {s for s in queried_series() if s.startswith("ray_tmm_batch")} - scrape.names()
    assert not missing, missing


def test_a_second_run_does_nothing(
    first_run: RunReport, backlog: Backlog, batch_settings: Settings
) -> None:
    db = connect(batch_settings.lance, batch_settings.s3)
    before = db.open_table(DEFAULT.segments_table).version
    again = run(batch_settings, selection=Selection(podcast_ids=(_uuid(backlog.podcast_id),)))
    assert (again.done, again.failed, again.skipped) == (0, 0, 5)
    assert again.skip_reasons["done by an earlier run of this plan"] == 3
    assert db.open_table(DEFAULT.segments_table).version == before  # nothing was written


def test_search_finds_what_the_batch_wrote(
    first_run: RunReport, backlog: Backlog, batch_settings: Settings
) -> None:
    engine = search_engine(batch_settings, FixedIndex(DEFAULT))
    ours = set(backlog.episode_ids.values())
    for guid in ("a", "b", "c"):
        words = backlog.spoken[guid].split()
        query = " ".join(words[len(words) // 2 : len(words) // 2 + 6])
        hits = asyncio.run(engine.search_segments(query, limit=3))
        assert hits and hits[0].episode_id == backlog.episode_ids[guid], (query, hits)
        assert all(h.episode_id in ours for h in hits[:1])


def test_a_run_killed_part_way_resumes_with_one_copy_of_everything(
    first_run: RunReport,
    ray_cluster: RayCluster,
    batch_settings: Settings,
    second_backlog: Backlog,
    database_url: str,
) -> None:
    more = second_backlog
    command = [sys.executable, "-m", "pipelines.cli", "run", "--podcast", more.podcast_id,
               "--address", ray_cluster.address]  # fmt: skip
    env = {**os.environ, **cli_env(batch_settings)}
    driver = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while not done_in_ledger(database_url, more.podcast_id):
            assert driver.poll() is None, driver.stdout.read().decode() if driver.stdout else ""
            assert time.monotonic() < deadline, "no episode finished in time"
            time.sleep(0.2)
        driver.send_signal(signal.SIGKILL)  # the driver dies mid-run
    finally:
        driver.wait(30)
    first_done = done_in_ledger(database_url, more.podcast_id)
    assert 1 <= len(first_done) < 4, "the run was not interrupted part-way"
    resumed = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True,
                             timeout=900, check=False)  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "done by an earlier run of this plan" in resumed.stdout
    after = done_in_ledger(database_url, more.podcast_id)
    assert len(after) == 4
    # The episodes finished before the kill were not redone.
    assert all(after[e] == first_done[e] for e in first_done)
    passages = lance_rows(batch_settings, DEFAULT.segments_table, more.podcast_id)
    ids = [p["id"] for p in passages]
    assert len(ids) == len(set(ids)), "a passage was written twice"
    counts = rows(database_url, "SELECT id::text, segment_count FROM episodes "
                  "WHERE podcast_id = %s", more.podcast_id)  # fmt: skip
    for row in counts:
        assert sum(p["episode_id"] == row["id"] for p in passages) == row["segment_count"] >= 1
    assert len(lance_rows(batch_settings, DEFAULT.summaries_table, more.podcast_id)) == 4


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(
    first_run: RunReport,
    ray_cluster: RayCluster,
    batch_settings: Settings,
    third_backlog: Backlog,
    database_url: str,
) -> None:
    """The Whisper actor is SIGKILLed while the run is going; Ray Data restarts it (or the run
    fails and the same command resumes it): every episode ends done, every passage once."""
    from ray.util.state import list_actors

    third = third_backlog
    ours = Selection(podcast_ids=(_uuid(third.podcast_id),))
    outcome: dict[str, Any] = {}

    def drive() -> None:
        try:
            outcome["report"] = run(batch_settings, selection=ours)
        except Exception as exc:  # the run may fail when its worker dies: then resume it
            outcome["error"] = exc

    driver = threading.Thread(target=drive)
    driver.start()
    deadline = time.monotonic() + 300
    killed = None
    while killed is None and driver.is_alive():
        assert time.monotonic() < deadline, "the Whisper actor never started"
        # This module's cluster by its address: without one, the state API takes the newest
        # cluster on the machine, which may be another test lane's.
        alive = list_actors(
            address=ray_cluster.address,
            filters=[("state", "=", "ALIVE")],
            raise_on_missing_output=False,
        )
        for actor in alive:
            if (
                "Transcribe" in actor.class_name
                and actor.pid
                and len(done_in_ledger(database_url, third.podcast_id)) < 3
            ):
                os.kill(actor.pid, signal.SIGKILL)  # a worker of this test's own Ray cluster
                killed = actor.pid
                break
        time.sleep(0.5)
    driver.join(900)
    assert killed is not None, "the run ended before its Whisper actor could be killed"
    if "error" in outcome:
        outcome["report"] = run(batch_settings, selection=ours)
    assert len(done_in_ledger(database_url, third.podcast_id)) == 3, outcome
    passages = lance_rows(batch_settings, DEFAULT.segments_table, third.podcast_id)
    assert len({p["id"] for p in passages}) == len(passages) > 0
    counts = rows(database_url, "SELECT id::text, segment_count FROM episodes "
                  "WHERE podcast_id = %s", third.podcast_id)  # fmt: skip
    for row in counts:
        assert sum(p["episode_id"] == row["id"] for p in passages) == row["segment_count"] >= 1


def test_reembedding_builds_a_new_index_and_switches_readers_when_complete(
    first_run: RunReport,
    backlog: Backlog,
    second_backlog: Backlog,
    third_backlog: Backlog,
    batch_settings: Settings,
    database_url: str,
) -> None:
    ours = Selection(
        podcast_ids=tuple(_uuid(b.podcast_id) for b in (backlog, second_backlog, third_backlog))
    )
    space = EmbedderSettings(query_prefix="query: ", passage_prefix="passage: ")
    new_settings = batch_settings.model_copy(
        update={"models": batch_settings.models.model_copy(update={"embedder": space})}
    )
    new = index_for(space)
    assert new.name != DEFAULT.name
    old_rows = lance_rows(batch_settings, DEFAULT.segments_table)
    report = run(new_settings, "embed", selection=ours)
    assert report.target_index == new.name and report.failed == 0
    assert report.activated, report.index_note
    new_rows = {r["id"]: r for r in lance_rows(batch_settings, new.segments_table)}
    assert set(new_rows) == {r["id"] for r in old_rows}
    changed = [r for r in old_rows if list(r["vector"]) != list(new_rows[r["id"]]["vector"])]
    assert changed, "the prefixes should change the vectors"
    # The old index is untouched and still answers.
    assert len(lance_rows(batch_settings, DEFAULT.segments_table)) == len(old_rows)
    old_engine = search_engine(batch_settings, FixedIndex(DEFAULT))
    assert asyncio.run(old_engine.search_segments("a sister's advice", mode=SearchMode.SEMANTIC))
    # Readers follow the registry to the new index (and its query prefix).
    active = active_index(database_url)
    assert active is not None and active.name == new.name
    assert active.embedder.query_prefix == "query: "
    hits = asyncio.run(search_engine(batch_settings, FixedIndex(active)).search_segments(
        "a sister's advice", mode=SearchMode.SEMANTIC))  # fmt: skip
    assert hits and all(h.segment_id in new_rows for h in hits)
    embedding = rows(database_url, "SELECT DISTINCT embedding_model FROM episodes "
                     "WHERE status = 'done' AND podcast_id = ANY(%s)",
                     [str(p) for p in ours.podcast_ids])  # fmt: skip
    assert [r["embedding_model"] for r in embedding] == [report_model(new_rows)]
    # Rerunning the re-embedding does nothing; rolling back is one switch.
    assert run(new_settings, "embed", selection=ours).done == 0
    listed = {i["name"]: i for i in json.loads(cli(batch_settings, "tmm", "index", "list"))}
    assert listed[new.name]["active"] and listed[DEFAULT.name]["state"] == "ready"
    cli(batch_settings, "tmm", "index", "activate", DEFAULT.name)
    assert active_index(database_url) == DEFAULT
    cli(batch_settings, "tmm", "index", "activate", "nope", check=False)
    runs = cli(batch_settings, "tmm-batch", "runs")
    assert report.run_id in runs and new.name in runs


def test_recutting_passages_builds_a_new_index_version_and_switches_when_complete(
    first_run: RunReport,
    backlog: Backlog,
    second_backlog: Backlog,
    third_backlog: Backlog,
    batch_settings: Settings,
    database_url: str,
) -> None:
    """``--stages segment,embed`` re-cuts every episode's stored transcript into passages in
    a version of the live index of its own; readers switch when it holds every episode."""
    ours = Selection(
        podcast_ids=tuple(_uuid(b.podcast_id) for b in (backlog, second_backlog, third_backlog))
    )
    live = active_index(database_url)
    assert live is not None
    segmenter = target_models(pinned(batch_settings)).segmenter
    version = resegmented(live, segmenter)
    assert version.name != live.name and version.embedder == live.embedder
    old_rows = lance_rows(batch_settings, live.segments_table)
    report = run(batch_settings, "segment,embed", selection=ours)
    assert report.target_index == version.name and report.failed == 0, report.failures
    assert report.activated, report.index_note
    new_rows = lance_rows(batch_settings, version.segments_table)
    episodes = {r["episode_id"] for r in old_rows}
    assert {r["episode_id"] for r in new_rows} == episodes
    assert {r["segmenter_model"] for r in new_rows} == {segmenter}
    assert len(lance_rows(batch_settings, version.summaries_table)) == len(episodes)
    # The old version is untouched (a rollback is one switch); readers follow the new one.
    assert len(lance_rows(batch_settings, live.segments_table)) == len(old_rows)
    assert active_index(database_url) == version
    hits = asyncio.run(search_engine(batch_settings, FixedIndex(version)).search_segments(
        "a sister's advice", mode=SearchMode.HYBRID))  # fmt: skip
    assert hits and all(h.segment_id in {r["id"] for r in new_rows} for h in hits)
    # The episodes' rows describe their live passages once readers switched.
    counts = Counter(r["episode_id"] for r in new_rows)
    described = rows(database_url, "SELECT id::text AS id, segment_count, segmenter_model "
                     "FROM episodes WHERE id = ANY(%s::uuid[])", sorted(counts))  # fmt: skip
    assert {r["id"]: (r["segment_count"], r["segmenter_model"]) for r in described} == {
        e: (n, segmenter) for e, n in counts.items()
    }
    # Cutting again with the same segmenter is the live version's business: nothing to do.
    assert run(batch_settings, "segment,embed", selection=ours).done == 0
    cli(batch_settings, "tmm", "index", "activate", live.name)
    assert active_index(database_url) == live


def report_model(new_rows: dict[str, dict[str, Any]]) -> str:
    models = {r["embedding_model"] for r in new_rows.values()}
    assert len(models) == 1
    return str(models.pop())


def test_a_run_submitted_as_a_ray_job(
    first_run: RunReport, ray_cluster: RayCluster, backlog: Backlog, batch_settings: Settings
) -> None:
    """``tmm-batch submit`` hands the same entry point to the cluster's job server; --wait
    follows its logs to the summary table. (Re-embedding in place with --force: quick.)"""
    env = [f"--env={k}={v}" for k, v in cli_env(batch_settings).items()]
    out = cli(batch_settings, "tmm-batch", "submit", "--address", ray_cluster.jobs_url,
               "--stages", "embed", "--force", "--podcast", backlog.podcast_id, "--wait",
               *env)  # fmt: skip
    assert "submitted Ray Job raysubmit_" in out and "ray job logs --address" in out
    assert "SUCCEEDED" in out, out
    assert "embed -> index default" in out and "done           3" in out, out
    # Not a terminal: the progress goes to the log as plain lines, the last one when it ends.
    assert "batch run progress: 3/3 episodes (100%)" in out and "ETA 0s" in out, out


def test_stage_plans_add_what_they_need() -> None:
    assert parse_stages("embed") == {Stage.EMBED}
    assert parse_stages("transcribe,segment,embed") == {
        Stage.DOWNLOAD, Stage.TRANSCRIBE, Stage.SEGMENT, Stage.EMBED,
    }  # fmt: skip
    assert parse_stages("summarize") == {Stage.SUMMARIZE, Stage.EMBED}


def test_the_rayjob_gpu_settings_build_a_pipeline(
    ray_cluster: RayCluster, batch_settings: Settings
) -> None:
    """Production's RayJob gives Whisper and the LLM a GPU each and the embedder a share:
    Ray Data refuses ``batch_size=None`` wherever GPUs are asked for, when the stage is added
    (the backfill failed that way before its first episode). Built, not run: the cluster tier
    runs it on GPU-group nodes."""
    import ray.data

    from pipelines.run import make_plan
    from pipelines.stages import build

    batch = batch_settings.batch.model_copy(
        update={"transcribe_gpus": 1.0, "summarize_gpus": 1.0, "embed_gpus": 0.25}
    )
    settings = batch_settings.model_copy(update={"batch": batch})
    plan = make_plan(settings, frozenset(parse_stages("all")))
    dataset = build(ray.data.from_items([{"episode_id": "e"}]), settings, plan, "run")
    assert "Transcribe" in str(dataset) and "Summarize" in str(dataset), str(dataset)
