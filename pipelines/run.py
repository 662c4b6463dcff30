"""One batch run, driven from here: plan, select, skip what is done, hold the rest (the online
worker's job lease: :mod:`pipelines.leases`), stream it through the stages on Ray Data, record
and report; for a new search index, complete it and switch readers over.

The caller connects to Ray first (the CLI: a private local cluster, or the cluster it runs on as
a Ray Job). Everything the run needs to resume lives in PostgreSQL, LanceDB and S3, so a run
killed at any point is resumed by starting the same command again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, TypeVar
from uuid import UUID

import psycopg
import ray.data

from models.registry import embedder_path, model_ref, whisper_path
from models.segmenter import segmenter_model
from models.summarizer.backends import llm_model
from pipelines import ledger, stages
from pipelines.leases import Holds
from pipelines.plan import Plan, PlanError, Stage, TargetModels, ordered
from pipelines.progress import RunMeter
from pipelines.rows import Item, batches, from_table, to_table
from pipelines.selection import Selection
from raykit.metrics import install as install_metrics
from tellmemore.index import SearchIndex, index_for, registry, resegmented, space_of
from tellmemore.index import connect as lance_connect
from tellmemore.metrics import BATCH_PLANNED
from tellmemore.settings import Settings
from tellmemore.storage import model_artifacts, pinned_models

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RunOptions:
    selection: Selection = field(default_factory=Selection)
    stages: frozenset[Stage] = frozenset(Stage)
    force: bool = False  # redo episodes even if done or up to date
    retry_failed: bool = False  # retry episodes that failed for good in an earlier run
    activate: bool = True  # switch readers to a completed new index


@dataclass(frozen=True)
class EpisodeOutcome:
    episode_id: str
    title: str
    outcome: str  # done | failed | skipped
    reason: str = ""  # why skipped, or the failure's sentence
    stage: str = ""
    code: str = ""
    segments: int = 0


@dataclass
class RunReport:
    run_id: str
    plan_key: str
    stages: list[str]
    target_index: str
    selected: int = 0
    planned: int = 0  # sent through the stages (catch-up rounds included)
    done: int = 0
    skipped: int = 0
    failed: int = 0
    segments: int = 0
    seconds: float = 0.0
    activated: bool = False
    index_note: str = ""
    skip_reasons: Counter[str] = field(default_factory=Counter)
    failures: list[EpisodeOutcome] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["skip_reasons"] = dict(self.skip_reasons)
        return data


Progress = Callable[[EpisodeOutcome, RunReport], None]


def target_models(settings: Settings) -> TargetModels:
    m = settings.models
    return TargetModels(
        transcript=model_ref("asr", f"whisper-{m.whisper.model}",
                             whisper_path(m.whisper.model, m.dir)).id,
        segmenter=segmenter_model(embedding=model_ref(
            "embedding", m.embedder.model, embedder_path(m.embedder.model))).id,
        llm=llm_model(m.llm, m.dir).id,
        embedding=model_ref("embedding", m.embedder.model, embedder_path(m.embedder.model)).id,
    )  # fmt: skip


def pinned(settings: Settings) -> Settings:
    """``settings`` with every model artifact named without a digest pinned to its promoted
    version, once per run: the plan's model ids and every actor then name the same weights
    even if another version is promoted mid-run."""
    return settings.model_copy(update={"models": pinned_models(settings.s3, settings.models)})


def make_plan(settings: Settings, chosen: frozenset[Stage]) -> Plan:
    # The index is named by the embedder setting as configured (a promoted new version of
    # the same model stays in its index); the model ids name the exact weights. In the live
    # index's space the live index is the target, whichever version of it is live; re-cutting
    # the passages of stored transcripts (segment without transcribe) builds the version
    # named by the segmenter beside it, unless that version is the live one.
    own = index_for(settings.models.embedder)
    active = _db(settings, registry.active)
    models = target_models(pinned(settings))
    if active is not None and space_of(active.embedder) == own.embedder:
        own = active
        if Stage.SEGMENT in chosen and Stage.TRANSCRIBE not in chosen:
            own = resegmented(active, models.segmenter)
    plan = Plan(chosen, models, active or own, own)
    plan.check()
    return plan


HELD_ONLINE = "queued for or being processed by the online worker"


class BatchRun:
    def __init__(
        self,
        settings: Settings,
        *,
        progress: Progress | None = None,
        meter: RunMeter | None = None,
    ) -> None:
        self._settings = settings
        self._progress = progress or (lambda outcome, report: None)
        self.meter = meter or RunMeter()
        self._holds: Holds | None = None
        self._audio_s: dict[str, float | None] = {}  # each candidate's length, for the meter

    def run(self, options: RunOptions) -> RunReport:
        started = time.monotonic()
        plan = make_plan(self._settings, options.stages)
        selection = options.selection
        if Stage.TRANSCRIBE not in plan.stages and not selection.statuses:
            # Re-cutting, re-embedding or re-summarizing works on what was processed (stored
            # transcripts and passages); the rest has nothing to work from.
            selection = replace(selection, statuses=("done",))
        conn = ledger.connect(self._settings.database.url)
        try:
            if plan.new_index:
                _db(self._settings, lambda c: registry.register(c, plan.target, None))
            else:  # writing the live index; on a fresh system it becomes the active one
                _db(self._settings, lambda c: registry.claim_if_none_active(
                    c, plan.target, plan.models.embedding))  # fmt: skip
            found = ledger.candidates(conn, selection)
            run_id = ledger.start_run(conn, plan, _selection_doc(selection), len(found))
            report = RunReport(run_id, plan.key, [s.value for s in ordered(plan.stages)],
                               plan.target.name, selected=len(found))  # fmt: skip
            log.info("batch run %s: plan %s, stages %s, target index %s, %d episodes selected",
                     run_id, plan.key, report.stages, plan.target.name, len(found))  # fmt: skip
            todo = self._triage(conn, plan, found, options, report)
            state = "failed"
            self._holds = Holds(self._settings.database.url, plan,
                                lease_s=self._settings.batch.lease_s)  # fmt: skip
            try:
                self._execute(plan, run_id, todo, report)
                if plan.new_index:
                    self._complete_index(conn, plan, run_id, options, selection, report)
                state = "finished"
            finally:
                self._holds.close()
                self._holds = None
                report.seconds = time.monotonic() - started
                ledger.finish_run(conn, run_id, done=report.done, skipped=report.skipped,
                                  failed=report.failed, activated=report.activated,
                                  state=state)  # fmt: skip
        finally:
            conn.close()
        if report.done and (not plan.new_index or report.activated):
            self._after_writes()
        return report

    # ---- which episodes ------------------------------------------------------------------

    def _triage(
        self,
        conn: psycopg.Connection[Any],
        plan: Plan,
        found: list[ledger.Candidate],
        options: RunOptions,
        report: RunReport,
    ) -> list[Item]:
        earlier = ledger.earlier_outcomes(conn, plan.key, [c.episode_id for c in found])
        todo = []
        for candidate in found:
            self._audio_s[candidate.episode_id] = candidate.audio_s
            reason = "" if options.force else ledger.skip_reason(
                candidate, plan, earlier, retry_failed=options.retry_failed)  # fmt: skip
            if reason:
                report.skipped += 1
                report.skip_reasons[reason] += 1
                self._progress(EpisodeOutcome(candidate.episode_id, candidate.title, "skipped",
                                              reason), report)  # fmt: skip
            else:
                todo.append(_item(candidate))
        return todo

    # ---- running the stages --------------------------------------------------------------

    def _execute(self, plan: Plan, run_id: str, items: list[Item], report: RunReport) -> None:
        assert self._holds is not None
        held = self._holds.take([i.episode_id for i in items])
        for item in items:
            if item.episode_id not in held:  # the online worker's: it records the outcome
                report.skipped += 1
                report.skip_reasons[HELD_ONLINE] += 1
                self._progress(EpisodeOutcome(item.episode_id, item.title, "skipped",
                                              HELD_ONLINE), report)  # fmt: skip
        items = [i for i in items if i.episode_id in held]
        if not items:
            return
        install_metrics()  # progress: planned here, done and failed counted by the writers
        report.planned += len(items)
        BATCH_PLANNED.labels(run_id).inc(len(items))
        self.meter.planned(self._audio_s.get(i.episode_id) for i in items)
        per_block = self._settings.batch.episodes_per_block
        source = ray.data.from_arrow([to_table(chunk) for chunk in batches(items, per_block)])
        ds = stages.build(source, self._settings, plan, run_id)
        for block in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            finished = from_table(block)
            self._holds.let_go([item.episode_id for item in finished])  # recorded: let go
            for item in finished:
                self.meter.finished(self._audio_s.get(item.episode_id), failed=item.failed)
                if item.failed:
                    outcome = EpisodeOutcome(item.episode_id, item.title, "failed",
                                             item.error_message, item.error_stage,
                                             item.error_code)  # fmt: skip
                    report.failed += 1
                    report.failures.append(outcome)
                else:
                    outcome = EpisodeOutcome(item.episode_id, item.title, "done",
                                             segments=item.segment_count)  # fmt: skip
                    report.done += 1
                    report.segments += item.segment_count
                self._progress(outcome, report)

    # ---- a new index: complete it, then switch readers -----------------------------------

    def _complete_index(
        self,
        conn: psycopg.Connection[Any],
        plan: Plan,
        run_id: str,
        options: RunOptions,
        selection: Selection,
        report: RunReport,
    ) -> None:
        whole = selection == Selection(statuses=selection.statuses)
        rounds = self._settings.batch.catch_up_rounds if whole else 0
        for round_ in range(rounds + 1):
            missing = self._missing(plan)
            if not missing or round_ == rounds:
                break
            # Episodes the online processor finished meanwhile (into the active index).
            log.info("new index %s: catching up %d episodes", plan.target.name, len(missing))
            self._execute(plan, run_id, self._items(conn, missing), report)
        if missing:
            report.index_note = (
                f"Index {plan.target.name} holds {self._count(plan.target)} episodes; "
                f"{len(missing)} of the active index's are missing, so readers stay on "
                f"{plan.source.name}. Run again without filters to complete it."
            )
            return
        if not options.activate:
            report.index_note = (f"Index {plan.target.name} is complete; activate it with "
                                 f"`tmm index activate {plan.target.name}`.")  # fmt: skip
            return
        _db(self._settings, lambda c: registry.activate(c, plan.target.name))
        report.activated = True
        ledger.mark_switched(conn, plan, sorted(self._episodes_in(plan.target)))
        # The online worker commits an episode only while the index it wrote is still the
        # active one, and the switch waits for commits in flight (registry.still_active): every
        # online episode written into the old index is committed by now, and is either missing
        # from the new index or was processed after this plan embedded it (ledger.redone_since).
        # Only episodes whose passages are in the old index can be embedded from it: the plan
        # key is the same for every run with these models, so the ledger also names episodes
        # an earlier run embedded and that have moved on since.
        source = self._episodes_in(plan.source)
        redone = set(ledger.redone_since(conn, plan.key)) & source
        stragglers = sorted((source - self._episodes_in(plan.target)) | redone)
        if stragglers:
            self._execute(plan, run_id, self._items(conn, stragglers), report)
            ledger.mark_switched(conn, plan, stragglers)
        report.index_note = f"Readers switched from {plan.source.name} to {plan.target.name}."

    def _missing(self, plan: Plan) -> list[str]:
        return sorted(self._episodes_in(plan.source) - self._episodes_in(plan.target))

    def _count(self, index: SearchIndex) -> int:
        return len(self._episodes_in(index))

    def _episodes_in(self, index: SearchIndex) -> set[str]:
        db = lance_connect(self._settings.lance, self._settings.s3)
        if index.segments_table not in set(db.table_names()):
            return set()
        table = db.open_table(index.segments_table)
        column = table.search().select(["episode_id"]).limit(None).to_arrow()["episode_id"]
        return {str(v) for v in column.unique().to_pylist()}

    def _items(self, conn: psycopg.Connection[Any], episode_ids: list[str]) -> list[Item]:
        chosen = Selection(episode_ids=tuple(UUID(e) for e in episode_ids))
        found = ledger.candidates(conn, chosen)
        self._audio_s.update((c.episode_id, c.audio_s) for c in found)
        return [_item(c) for c in found]

    # ---- after writing -------------------------------------------------------------------

    def _after_writes(self) -> None:
        """What the online processor does after each episode: cached search answers may now
        be stale, and topic playlists catch up on the new passages."""
        from models.embedder import LocalTextEmbedder
        from tellmemore.wiring import open_services

        async def main() -> None:
            embedder = LocalTextEmbedder(
                self._settings.models.embedder,
                artifacts=model_artifacts(self._settings.s3, self._settings.models),
            )
            async with open_services(self._settings, text_embedder=embedder) as services:
                await services.search.invalidate()
                await services.catalog.invalidate_cache()
                refreshed = await services.topics.refresh_all()
                log.info("after the batch run: caches invalidated, topics %s", refreshed)

        try:
            asyncio.run(main())
        except Exception:
            log.exception("cache invalidation / topic refresh after the run failed; "
                          "run `tmm topics refresh`")  # fmt: skip


def _item(c: ledger.Candidate) -> Item:
    return Item(
        episode_id=c.episode_id,
        podcast_id=c.podcast_id,
        title=c.title,
        podcast_title=c.podcast_title,
        published_at=c.published_at,
        enclosure_url=c.enclosure_url or "",
        publisher_transcripts=json.dumps(c.transcripts or []),
        language=c.language or "",
        transcript_key=c.transcript_key or "",
        chapters_url=c.chapters_url or "",
    )


def _selection_doc(selection: Selection) -> dict[str, Any]:
    doc = asdict(selection)
    for key in ("published_after", "published_before"):
        if doc[key] is not None:
            doc[key] = doc[key].isoformat()
    doc["podcast_ids"] = [str(p) for p in selection.podcast_ids]
    doc["episode_ids"] = [str(e) for e in selection.episode_ids]
    return doc


def _db(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    async def main() -> T:
        async with await psycopg.AsyncConnection.connect(
            settings.database.url, autocommit=True
        ) as conn:
            return await work(conn)

    return asyncio.run(main())


__all__ = ["BatchRun", "EpisodeOutcome", "PlanError", "RunOptions", "RunReport", "make_plan"]
