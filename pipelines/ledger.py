"""PostgreSQL records of batch runs: the run, each episode's outcome, and the episode rows.

Synchronous psycopg: the driver and the writer actors are plain threads, not event loops. An
episode's outputs and its ledger row are committed in one transaction, after its LanceDB write,
so a run killed at any point either recorded the episode (and a rerun skips it) or did not (and
a rerun writes it again, merging on the same ids).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from pipelines.plan import Plan, Stage, ordered
from pipelines.selection import Selection, selection_query
from tellmemore.processing import outcomes
from tellmemore.storage import TimedCursor


@dataclass(frozen=True)
class Candidate:
    """A selected episode with what is recorded about its outputs."""

    episode_id: str
    podcast_id: str
    title: str
    podcast_title: str
    published_at: datetime | None
    enclosure_url: str | None
    transcripts: list[dict[str, Any]]
    language: str | None
    transcript_key: str | None
    status: str
    transcript_source: str | None
    transcript_model: str | None
    segmenter_model: str | None
    llm_model: str | None
    embedding_model: str | None
    # Seconds of audio, as processing measured it or else as the feed says (progress, ETA).
    audio_s: float | None = None
    chapters_url: str | None = None  # the feed's podcast:chapters document


@dataclass(frozen=True)
class Earlier:
    """What an earlier run with the same plan recorded for an episode."""

    outcome: str  # done | failed
    error_code: str | None
    retryable: bool


@dataclass(frozen=True)
class RunRecord:
    id: str
    plan_key: str
    stages: list[str]
    target_index: str
    state: str
    selected: int
    done: int
    skipped: int
    failed: int
    activated: bool
    started_at: datetime
    finished_at: datetime | None


def connect(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True, cursor_factory=TimedCursor)


def candidates(conn: psycopg.Connection[Any], selection: Selection) -> list[Candidate]:
    """The selection's episodes, oldest first, with their recorded outputs."""
    query, params = selection_query(selection)
    ids = [row[0] for row in conn.execute(query, params).fetchall()]
    if not ids:
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT e.id::text AS episode_id, e.podcast_id::text AS podcast_id, e.title, "
            "p.title AS podcast_title, e.published_at, e.enclosure_url, e.transcripts, "
            "p.language, e.transcript_key, e.status, e.transcript_source, e.transcript_model, "
            "e.segmenter_model, e.llm_model, e.embedding_model, "
            "coalesce(e.audio_duration_s, e.duration_s)::float8 AS audio_s, e.chapters_url "
            "FROM episodes e JOIN podcasts p ON p.id = e.podcast_id WHERE e.id = ANY(%s)",
            (ids,),
        )
        found = {row["episode_id"]: Candidate(**row) for row in cur.fetchall()}
    return [found[str(i)] for i in ids if str(i) in found]


def earlier_outcomes(
    conn: psycopg.Connection[Any], plan_key: str, episode_ids: list[str]
) -> dict[str, Earlier]:
    rows = conn.execute(
        "SELECT episode_id::text, outcome, error_code, retryable FROM batch_items "
        "WHERE plan_key = %s AND episode_id = ANY(%s::uuid[])",
        (plan_key, episode_ids),
    ).fetchall()
    return {r[0]: Earlier(r[1], r[2], r[3]) for r in rows}


def start_run(
    conn: psycopg.Connection[Any], plan: Plan, selection: dict[str, Any], selected: int
) -> str:
    run_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO batch_runs (id, plan_key, stages, target_index, selection, models, selected)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (run_id, plan.key, [s.value for s in ordered(plan.stages)], plan.target.name,
         Jsonb(selection), Jsonb(vars(plan.models)), selected),
    )  # fmt: skip
    return run_id


def finish_run(
    conn: psycopg.Connection[Any],
    run_id: str,
    *,
    done: int,
    skipped: int,
    failed: int,
    activated: bool,
    state: str = "finished",
) -> None:
    conn.execute(
        "UPDATE batch_runs SET state = %s, done = %s, skipped = %s, failed = %s, activated = %s,"
        " finished_at = now() WHERE id = %s",
        (state, done, skipped, failed, activated, run_id),
    )


def recent_runs(conn: psycopg.Connection[Any], limit: int = 20) -> list[RunRecord]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT id::text, plan_key, stages, target_index, state, selected, done, skipped, "
            "failed, activated, started_at, finished_at FROM batch_runs "
            "ORDER BY started_at DESC LIMIT %s",
            (limit,),
        )
        return [RunRecord(**r) for r in cur.fetchall()]


def run_failures(conn: psycopg.Connection[Any], run_id: str) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT b.episode_id::text, e.title, b.stage, b.error_code, b.error_message, "
            "b.retryable FROM batch_items b JOIN episodes e ON e.id = b.episode_id "
            "WHERE b.run_id = %s AND b.outcome = 'failed' ORDER BY e.title",
            (run_id,),
        )
        return list(cur.fetchall())


@dataclass(frozen=True)
class DoneOutputs:
    """What a finished episode records on its row, per stage the run ran."""

    transcript_key: str | None = None
    transcript_source: str | None = None
    transcript_model: str | None = None
    audio_duration_s: float | None = None
    segmenter_model: str | None = None
    segment_count: int | None = None
    llm_model: str | None = None
    summary: dict[str, Any] | None = None
    embedding_model: str | None = None
    publisher_chapters: list[dict[str, Any]] | None = None  # as fetched by the download stage


def record_done(
    conn: psycopg.Connection[Any],
    plan: Plan,
    run_id: str,
    episode_id: str,
    outputs: DoneOutputs,
) -> None:
    """The episode's outputs (only into the live index's episode row: a building index changes
    nothing readers see) and the ledger row, in one transaction."""
    with conn.transaction():
        if not plan.new_index:
            sets: list[sql.Composable] = [
                sql.SQL("status = 'done', processing_step = NULL, error_code = NULL, "
                        "error_message = NULL, processed_at = now(), updated_at = now()")
            ]  # fmt: skip
            params: list[Any] = []
            for column, value in vars(outputs).items():
                if value is None:
                    continue
                sets.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
                jsonb = column in ("summary", "publisher_chapters")
                params.append(Jsonb(value) if jsonb else value)
            conn.execute(
                sql.SQL("UPDATE episodes SET {} WHERE id = %s").format(sql.SQL(", ").join(sets)),
                [*params, episode_id],
            )
        _ledger(conn, plan.key, run_id, episode_id, "done", None, None, None, False,
                outputs.segment_count)  # fmt: skip


def record_failed(
    conn: psycopg.Connection[Any],
    plan: Plan,
    run_id: str,
    episode_id: str,
    *,
    stage: str,
    code: str,
    message: str,
    retryable: bool,
) -> None:
    """The failure in the ledger; the episode's row shows it only where the batch run owns
    the row's outcome (no outputs yet, not the online worker's: ``processing.outcomes``)."""
    with conn.transaction():
        outcomes.batch_failed(conn, episode_id, code=code, message=message)
        _ledger(conn, plan.key, run_id, episode_id, "failed", stage, code, message, retryable,
                None)  # fmt: skip


def _ledger(
    conn: psycopg.Connection[Any],
    plan_key: str,
    run_id: str,
    episode_id: str,
    outcome: str,
    stage: str | None,
    code: str | None,
    message: str | None,
    retryable: bool,
    segment_count: int | None,
) -> None:
    conn.execute(
        "INSERT INTO batch_items (plan_key, episode_id, run_id, outcome, stage, error_code, "
        "error_message, retryable, segment_count) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (plan_key, episode_id) DO UPDATE SET run_id = EXCLUDED.run_id, "
        "outcome = EXCLUDED.outcome, stage = EXCLUDED.stage, error_code = EXCLUDED.error_code, "
        "error_message = EXCLUDED.error_message, retryable = EXCLUDED.retryable, "
        "segment_count = EXCLUDED.segment_count, updated_at = now()",
        (plan_key, episode_id, run_id, outcome, stage, code, (message or "")[:2000] or None,
         retryable, segment_count),
    )  # fmt: skip


def skip_reason(
    candidate: Candidate, plan: Plan, earlier: dict[str, Earlier], *, retry_failed: bool
) -> str:
    """Why a run leaves the episode alone ("" to process it). What the episode's row already
    holds comes before what earlier runs recorded: an episode the online worker finished with
    this plan's models is never redone, even if an earlier attempt of the plan failed on it."""
    before = earlier.get(candidate.episode_id)
    if before is not None and before.outcome == "done":
        return "done by an earlier run of this plan"
    if up_to_date(candidate, plan):
        return "already made by these models"
    if before is not None and not before.retryable and not retry_failed:
        return f"failed for good in an earlier run ({before.error_code}); --retry-failed retries"
    return ""


def up_to_date(candidate: Candidate, plan: Plan) -> bool:
    """The episode's recorded outputs already come from this plan's models (in the live index;
    a building index is tracked by the ledger alone)."""
    if plan.new_index or candidate.status != "done":
        return False
    models = plan.models
    checks = {
        Stage.TRANSCRIBE: candidate.transcript_model == models.transcript
        or candidate.transcript_source == "publisher",
        Stage.SEGMENT: candidate.segmenter_model == models.segmenter,
        Stage.SUMMARIZE: candidate.llm_model == models.llm,
        Stage.EMBED: candidate.embedding_model == models.embedding,
    }
    return all(ok for stage, ok in checks.items() if stage in plan.stages)


def redone_since(conn: psycopg.Connection[Any], plan_key: str) -> list[str]:
    """Episodes this plan re-embedded that were processed again after it (the online worker
    finished them anew): their passages in the plan's index are older than the active ones.

    The plan's hold on an episode lasts from before its stored passages are read until after
    its ledger row is written, and the online worker cannot process a held episode; so an
    online result the plan did not see always has ``processed_at`` after the ledger row."""
    rows = conn.execute(
        "SELECT b.episode_id::text FROM batch_items b JOIN episodes e ON e.id = b.episode_id "
        "WHERE b.plan_key = %s AND b.outcome = 'done' AND e.processed_at > b.updated_at "
        "ORDER BY 1",
        (plan_key,),
    ).fetchall()
    return [r[0] for r in rows]


def mark_switched(conn: psycopg.Connection[Any], plan: Plan, episode_ids: list[str]) -> None:
    """After a switch-over: the live vectors of these episodes are now the plan's embedding
    model's, and (a re-cut index) their live passages its segmenter's, as many as it made."""
    conn.execute(
        "UPDATE episodes SET embedding_model = %s, updated_at = now() WHERE id = ANY(%s::uuid[])",
        (plan.models.embedding, episode_ids),
    )
    if Stage.SEGMENT in plan.stages:
        conn.execute(
            "UPDATE episodes e SET segmenter_model = %s, segment_count = b.segment_count "
            "FROM batch_items b WHERE b.plan_key = %s AND b.episode_id = e.id "
            "AND b.outcome = 'done' AND e.id = ANY(%s::uuid[])",
            (plan.models.segmenter, plan.key, episode_ids),
        )
