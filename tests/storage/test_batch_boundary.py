"""The boundary between batch runs and the online worker, on the real PostgreSQL: who owns an
episode's outcome, what a rerun redoes, and what ``tmm-batch run`` says before it starts and
after it ends (the Ray side is stubbed: these are the driver's decisions, not the pipeline's).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import psycopg
import pytest
from typer.testing import CliRunner

from models.settings import EmbedderSettings
from pipelines import cli, ledger
from pipelines.plan import ALL_STAGES, Plan, TargetModels
from pipelines.run import BatchRun, EpisodeOutcome, RunOptions, RunReport
from pipelines.selection import Selection
from tellmemore.index import index_for
from tellmemore.processing import policy
from tellmemore.processing import rows as episode_rows
from tellmemore.settings import FeedSettings, Settings
from tests.storage.helpers import rows

MODELS = TargetModels("asr:whisper-tiny.en@1", "segmenter:passages@1", "llm:smollm2-135m@1",
                      "embedding:all-MiniLM-L6-v2@1")  # fmt: skip
DEFAULT = index_for(EmbedderSettings())
PLAN = Plan(ALL_STAGES, MODELS, DEFAULT, DEFAULT)


def add_episodes(database_url: str, **statuses: str) -> dict[str, str]:
    """One podcast with an episode per ``name=status``; ``done*`` ones have outputs made by
    this plan's models, ``redoing`` ones had outputs and are being processed again."""
    made = {}
    with psycopg.connect(database_url, autocommit=True) as conn:
        podcast = uuid.uuid4()
        conn.execute("INSERT INTO podcasts (id, feed_url, title) VALUES (%s, %s, 'Boundary')",
                     (podcast, f"https://example.invalid/{podcast}.xml"))  # fmt: skip
        for name, status in statuses.items():
            with_outputs = status == "done" or name.startswith("redoing")
            row = conn.execute(
                "INSERT INTO episodes (podcast_id, identity_key, title, content_sha256, status, "
                "processed_at, transcript_model, segmenter_model, llm_model, embedding_model) "
                "VALUES (%s, %s, %s, 'x', %s, CASE WHEN %s THEN now() END, %s, %s, %s, %s) "
                "RETURNING id::text",
                (podcast, name, name, status, with_outputs,
                 *((MODELS.transcript, MODELS.segmenter, MODELS.llm, MODELS.embedding)
                   if with_outputs else (None,) * 4)),
            ).fetchone()  # fmt: skip
            assert row is not None
            made[name] = row[0]
    return made


def status_of(database_url: str, episode_id: str) -> tuple[str, str | None]:
    (row,) = rows(database_url, "SELECT status, error_code FROM episodes WHERE id = %s",
                  episode_id)  # fmt: skip
    return row["status"], row["error_code"]


def fail_in_batch(conn: psycopg.Connection[Any], run_id: str, episode_id: str) -> None:
    ledger.record_failed(conn, PLAN, run_id, episode_id, stage="download",
                         code="enclosure_blocked_host", message="private address",
                         retryable=False)  # fmt: skip


# ---- one owner for an episode's outcome ------------------------------------------------------


def test_a_failed_batch_attempt_never_downgrades_what_the_online_worker_recorded(
    database_url: str, clean_db: None
) -> None:
    ids = add_episodes(database_url, done="done", redoing="processing", queued="queued",
                       fresh="new")  # fmt: skip
    with ledger.connect(database_url) as conn:
        run_id = ledger.start_run(conn, PLAN, {}, len(ids))
        for episode_id in ids.values():
            fail_in_batch(conn, run_id, episode_id)
    assert status_of(database_url, ids["done"]) == ("done", None)
    # Being redone online: the online worker has it, and its old outputs still serve.
    assert status_of(database_url, ids["redoing"]) == ("processing", None)
    assert status_of(database_url, ids["queued"]) == ("queued", None)
    # Only an episode nobody else has and with nothing to serve shows the batch's failure.
    assert status_of(database_url, ids["fresh"]) == ("failed", "enclosure_blocked_host")
    recorded = rows(database_url, "SELECT outcome FROM batch_items WHERE run_id = %s", run_id)
    assert [r["outcome"] for r in recorded] == ["failed"] * 4  # the run's own record keeps it


async def test_the_online_worker_never_overwrites_a_batch_result_with_a_failure(
    database_url: str, clean_db: None
) -> None:
    ids = add_episodes(database_url, fresh="new", never="new")
    with ledger.connect(database_url) as conn:
        run_id = ledger.start_run(conn, PLAN, {}, 1)
        ledger.record_done(conn, PLAN, run_id, ids["fresh"],
                           ledger.DoneOutputs(embedding_model=MODELS.embedding))  # fmt: skip
    assert status_of(database_url, ids["fresh"]) == ("done", None)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        for episode_id in ids.values():  # an online reprocess: every attempt fails
            await episode_rows.failed(conn, uuid.UUID(episode_id), code="download_failed",
                                      message="HTTP 503", final=False)  # fmt: skip
            assert status_of(database_url, episode_id) == ("queued", "download_failed")
            await episode_rows.failed(conn, uuid.UUID(episode_id), code="download_failed",
                                      message="HTTP 503", final=True)  # fmt: skip
    assert status_of(database_url, ids["fresh"]) == ("done", None)  # the batch's outputs serve
    assert status_of(database_url, ids["never"]) == ("failed", "download_failed")


def test_a_rerun_never_redoes_an_episode_made_by_its_models(
    database_url: str, settings: Settings, clean_db: None
) -> None:
    """The report: the batch failed (for good) on episodes the online processor had finished,
    and only --retry-failed ran again, redoing the finished ones. Finished with the plan's
    models, they are skipped whatever an earlier attempt recorded; the others are retried."""
    ids = add_episodes(database_url, done1="done", done2="done", fresh="new")
    with ledger.connect(database_url) as conn:
        run_id = ledger.start_run(conn, PLAN, {}, len(ids))
        for episode_id in ids.values():
            fail_in_batch(conn, run_id, episode_id)
        found = ledger.candidates(conn, Selection(episode_ids=tuple(map(uuid.UUID, ids.values()))))
        for retry in (False, True):
            report = RunReport("run", PLAN.key, [], DEFAULT.name, selected=len(found))
            todo = BatchRun(settings)._triage(
                conn, PLAN, found, RunOptions(retry_failed=retry), report
            )
            assert [i.title for i in todo] == (["fresh"] if retry else [])
            assert report.skip_reasons["already made by these models"] == 2
            assert report.skipped == (2 if retry else 3)


# ---- what tmm-batch run says ------------------------------------------------------------------


class StubRun:
    """``BatchRun`` with a canned report (the stages are the pipeline tier's business)."""

    report: ClassVar[RunReport]
    ran: ClassVar[list[RunOptions]] = []

    def __init__(self, settings: Settings, **_: Any) -> None:
        pass

    def run(self, options: RunOptions) -> RunReport:
        StubRun.ran.append(options)
        return StubRun.report


def report_of(done: int, failed: list[str], skipped: int = 0) -> RunReport:
    selected = done + len(failed) + skipped
    report = RunReport("run", "plan", ["download"], "default", selected=selected, done=done,
                       skipped=skipped, failed=len(failed))  # fmt: skip
    report.failures = [EpisodeOutcome(f"e{i}", f"t{i}", "failed", "why", "download", code)
                       for i, code in enumerate(failed)]  # fmt: skip
    return report


@pytest.fixture
def batch_cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """The CLI with these settings, no Ray, and the stub run; yields the Ray connections made."""
    connected: list[bool] = []
    StubRun.ran = []
    monkeypatch.setattr(cli, "_settings", lambda: settings)

    def connect_ray(*_: Any) -> bool:
        connected.append(True)
        return False

    monkeypatch.setattr(cli, "_connect_ray", connect_ray)
    monkeypatch.setattr(cli, "BatchRun", StubRun)
    with psycopg.connect(settings.database.url, autocommit=True) as conn:
        conn.execute("DELETE FROM server_settings")
    yield connected
    with psycopg.connect(settings.database.url, autocommit=True) as conn:
        conn.execute("DELETE FROM server_settings")


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli.app, ["run", "--podcast", str(uuid.uuid4()), *args])


def test_a_run_where_every_episode_failed_exits_non_zero_and_says_why(
    batch_cli: list[bool],
) -> None:
    StubRun.report = report_of(0, ["enclosure_blocked_host"] * 5)
    result = invoke()
    assert result.exit_code == 4, result.output
    assert "all 5 selected episodes failed: enclosure_blocked_host (5)" in result.output
    # Some skipped, the rest failed: still nothing done.
    StubRun.report = report_of(0, ["enclosure_not_found", "no_speech", "no_speech"], skipped=3)
    result = invoke()
    assert result.exit_code == 4, result.output
    assert "all 3 attempted episodes failed: no_speech (2), enclosure_not_found (1)" in (
        result.output
    )
    # Partial failures: --fail-on-errors decides, as before.
    StubRun.report = report_of(2, ["enclosure_not_found"])
    assert invoke().exit_code == 0
    assert invoke("--fail-on-errors").exit_code == 3
    StubRun.report = report_of(0, [], skipped=4)  # nothing to do is not a failure
    assert invoke().exit_code == 0


async def test_a_run_without_the_processors_policy_refuses_before_it_starts(
    batch_cli: list[bool], settings: Settings
) -> None:
    server = settings.model_copy(update={
        "feeds": FeedSettings(allow_private_hosts=True),
        "models": settings.models.model_copy(update={
            "embedder": EmbedderSettings(model="bge-small-en-v1.5")}),
    })  # fmt: skip
    async with await psycopg.AsyncConnection.connect(settings.database.url,
                                                     autocommit=True) as conn:  # fmt: skip
        await policy.record(conn, server)
    StubRun.report = report_of(1, [])
    shell = settings.model_copy(update={"feeds": FeedSettings(allow_private_hosts=False)})
    cli_settings = lambda: shell  # noqa: E731
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "_settings", cli_settings)
        refused = invoke()
        assert refused.exit_code == 2, refused.output
        assert "TMM_FEEDS__ALLOW_PRIVATE_HOSTS=true on the processor, false here" in refused.output
        assert "set TMM_FEEDS__ALLOW_PRIVATE_HOSTS=true" in refused.output
        # A different embedder is what a re-embedding run is for: a note, not a refusal.
        assert "note: TMM_MODELS__EMBEDDER__MODEL=bge-small-en-v1.5 on the processor" in (
            refused.output
        )
        assert batch_cli == [] and StubRun.ran == []  # refused before Ray or the run started
        forced = invoke("--ignore-server-settings")
        assert forced.exit_code == 0 and "warning [settings]" in forced.output, forced.output
        assert len(StubRun.ran) == 1
    # With the server's policy, it runs.
    same = settings.model_copy(update={"feeds": FeedSettings(allow_private_hosts=True)})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "_settings", lambda: same)
        assert invoke().exit_code == 0
    assert len(StubRun.ran) == 2
