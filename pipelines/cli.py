"""``tmm-batch``: batch reprocessing on Ray Data, run here or submitted to a cluster.

``tmm-batch run`` runs on a private local Ray cluster, on a cluster at ``--address``, or — when
started as a Ray Job (``tmm-batch submit``, or the KubeRay RayJob in ``cluster/``) — on the
cluster that runs it. Running the same command again resumes an interrupted run.

Before it starts, a run compares its settings with those the online processor recorded
(:mod:`tellmemore.processing.policy`) and refuses on a policy difference (exit 2). A run in
which every episode it tried failed exits 4 with one line saying why; ``--fail-on-errors``
makes any failure exit 3.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import typer

from pipelines import ledger
from pipelines.plan import PlanError, parse_stages
from pipelines.progress import RunMeter, show_progress
from pipelines.run import BatchRun, EpisodeOutcome, RunOptions, RunReport
from pipelines.selection import ModelKind, Selection
from tellmemore.logs import configure_logging
from tellmemore.processing import policy
from tellmemore.settings import Settings, load_settings, secret_environment

app = typer.Typer(help="Batch reprocessing on Ray Data.", no_args_is_help=True)

Stages = Annotated[str, typer.Option(
    help="Comma-separated stages (download, transcribe, segment, summarize, embed) or 'all'; "
         "what they need is added")]  # fmt: skip
Podcasts = Annotated[list[UUID] | None, typer.Option("--podcast", help="Podcast id (repeat)")]
After = Annotated[datetime | None, typer.Option(help="Published at or after (ISO, with zone)")]
Before = Annotated[datetime | None, typer.Option(help="Published before (ISO, with zone)")]
Statuses = Annotated[list[str] | None, typer.Option("--status", help="Episode status (repeat)")]
NotMadeBy = Annotated[list[str] | None, typer.Option(
    "--not-made-by", help="KIND=MODEL_ID: only outputs of KIND (transcript, segmenter, llm, "
    "embedding) not made by MODEL_ID (repeat)")]  # fmt: skip
EnvVars = Annotated[list[str] | None, typer.Option(
    "--env", help="NAME=VALUE for the job's environment, e.g. a setting that differs from the "
    "cluster's own (repeat)")]  # fmt: skip
Limit = Annotated[int | None, typer.Option(min=1, help="At most this many episodes")]
IgnoreServer = Annotated[bool, typer.Option(
    help="Run even where a policy setting differs from the online processor's")]  # fmt: skip


def _selection(
    podcast: list[UUID] | None,
    published_after: datetime | None,
    published_before: datetime | None,
    status: list[str] | None,
    not_made_by: list[str] | None,
    limit: int | None,
) -> Selection:
    pairs: list[tuple[ModelKind, str]] = []
    for spec in not_made_by or []:
        kind, sep, model = spec.partition("=")
        if not sep or not model:
            raise typer.BadParameter(
                f"{spec!r}: expected KIND=MODEL_ID", param_hint="--not-made-by"
            )
        pairs.append((kind, model))  # type: ignore[arg-type]  # checked by Selection
    try:
        return Selection(
            podcast_ids=tuple(podcast or ()),
            published_after=published_after,
            published_before=published_before,
            statuses=tuple(status or ()),  # type: ignore[arg-type]  # checked below
            not_made_by=tuple(pairs),
            limit=limit,
        )._checked()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _settings() -> Settings:
    settings = load_settings()
    configure_logging(settings)
    return settings


def _connect_ray(address: str | None, num_cpus: int, settings: Settings) -> bool:
    """Join the cluster this runs on (a Ray Job sets RAY_ADDRESS) or ``address``; else start a
    private local one. True if this process started it (and must stop it)."""
    from raykit.local import set_ray_env, start_ray

    set_ray_env()
    import ray

    if address or os.environ.get("RAY_ADDRESS"):
        ray.init(address=address, configure_logging=False, log_to_driver=False)
        return False
    start_ray(num_cpus=num_cpus, environment=secret_environment(settings))
    return True


@app.callback()
def main() -> None:
    """Batch reprocessing on Ray Data (a command group: ``tmm-batch run``, ``submit``, ...)."""


@app.command("run")
def run(
    stages: Stages = "all",
    podcast: Podcasts = None,
    published_after: After = None,
    published_before: Before = None,
    status: Statuses = None,
    not_made_by: NotMadeBy = None,
    limit: Limit = None,
    force: Annotated[bool, typer.Option(help="Redo episodes already done")] = False,
    retry_failed: Annotated[bool, typer.Option(help="Retry episodes that failed for good")] = False,
    activate: Annotated[bool, typer.Option(help="Switch readers to a completed new index")] = True,
    address: Annotated[str | None, typer.Option(help="Ray cluster address to join")] = None,
    num_cpus: Annotated[int, typer.Option(help="CPUs of a private local Ray cluster")] = 8,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    fail_on_errors: Annotated[bool, typer.Option(help="Exit 3 if an episode failed")] = False,
    ignore_server_settings: IgnoreServer = False,
    progress_every: Annotated[
        float,
        typer.Option(min=1, help="Seconds between progress lines when stderr is not a terminal"),
    ] = 30.0,
) -> None:
    """Run the pipeline over the selected episodes and print a summary: a progress bar on a
    terminal (episodes, audio hours, rate, ETA), a progress line every --progress-every
    seconds in a log."""
    settings = _settings()
    selection = _selection(podcast, published_after, published_before, status, not_made_by, limit)
    try:
        chosen = parse_stages(stages)
    except PlanError as exc:
        raise typer.BadParameter(str(exc), param_hint="--stages") from exc
    check_server_settings(settings, ignore=ignore_server_settings)
    started_here = _connect_ray(address, num_cpus, settings)
    try:
        import ray.data

        # Ours counts episodes and audio; Ray Data's (blocks per operator) would draw over it.
        ray.data.DataContext.get_current().enable_progress_bars = False
        meter = RunMeter()
        tty = sys.stderr.isatty()
        try:
            options = RunOptions(
                selection, chosen, force=force, retry_failed=retry_failed, activate=activate
            )
            with show_progress(meter, tty=tty, interval_s=progress_every) as echo:
                runner = BatchRun(settings, progress=_printer(echo), meter=meter)
                report = runner.run(options)
        except PlanError as exc:
            typer.secho(f"error [plan]: {exc}", fg="red", err=True)
            raise typer.Exit(2) from exc
    finally:
        if started_here:
            import ray

            ray.shutdown()
    if json_out:
        typer.echo(json.dumps(report.as_dict(), default=str, indent=2))
    else:
        typer.echo(summary_table(report))
    why = all_failed(report)
    if why:
        typer.secho(why, fg="red", err=True)
        raise typer.Exit(4)
    if fail_on_errors and report.failed:
        raise typer.Exit(3)


def check_server_settings(settings: Settings, *, ignore: bool = False) -> None:
    """Refuse (exit 2) to run with a policy setting other than the online processor's; show a
    model difference (on purpose, usually) as a note."""
    with ledger.connect(settings.database.url) as conn:
        server = policy.recorded(conn)
    if server is None:  # no processor ever started here: nothing to hold the run to
        return
    found = policy.differences(settings, server)
    for d in found:
        if not d.enforced:
            typer.echo(f"note: {d.sentence()}", err=True)
    enforced = [d for d in found if d.enforced]
    if not enforced:
        return
    seen = f"(recorded by {server.host} at {server.recorded_at:%Y-%m-%d %H:%M %Z})"
    for d in enforced:
        fix = f"set {d.name}={policy.env_value(d.server)} as the processor does"
        typer.secho(f"{'warning' if ignore else 'error'} [settings]: {d.sentence()} {seen}; "
                    f"{fix}", fg="yellow" if ignore else "red", err=True)  # fmt: skip
    if not ignore:
        typer.secho("Nothing was run. To run under these settings anyway, pass "
                    "--ignore-server-settings.", err=True)  # fmt: skip
        raise typer.Exit(2)


def all_failed(report: RunReport) -> str:
    """One line when every episode the run tried failed (a setting or a service is wrong, as a
    rule, not the episodes), else ""."""
    if report.done or not report.failed:
        return ""
    which = "selected" if report.failed == report.selected else "attempted"
    codes = Counter(f.code for f in report.failures)
    reasons = ", ".join(f"{code} ({n})" for code, n in codes.most_common())
    return f"all {report.failed} {which} episodes failed: {reasons}"


def _printer(echo: Callable[[str], None]) -> Callable[[EpisodeOutcome, RunReport], None]:
    """One line per finished episode, printed through ``echo`` (above the bar on a terminal)."""

    def show(outcome: EpisodeOutcome, report: RunReport) -> None:
        if outcome.outcome == "skipped":
            return
        finished = report.done + report.failed
        todo = max(report.selected - report.skipped, report.planned)
        line = f"[{finished:>4}/{todo}] {outcome.outcome:<6} {outcome.title[:60]}"
        if outcome.outcome == "done":
            line += f" ({outcome.segments} passages)"
        else:
            line += f" — {outcome.stage}: {outcome.code}: {outcome.reason[:120]}"
        echo(line)

    return show


def summary_table(report: RunReport) -> str:
    lines = [
        f"batch run {report.run_id} (plan {report.plan_key}): {','.join(report.stages)} "
        f"-> index {report.target_index}",
        f"  selected  {report.selected:>6}",
        f"  done      {report.done:>6}   ({report.segments} passages)",
        f"  skipped   {report.skipped:>6}"
        + "".join(f"\n              {n:>6}  {why}" for why, n in report.skip_reasons.items()),
        f"  failed    {report.failed:>6}",
        f"  time      {report.seconds:>8.1f} s",
    ]
    if report.index_note:
        lines.append(f"  index     {report.index_note}")
    if report.failures:
        lines.append("failures:")
        lines.append(f"  {'episode':<36}  {'stage':<10}  {'code':<22}  reason")
        for f in report.failures:
            lines.append(f"  {f.episode_id:<36}  {f.stage:<10}  {f.code:<22}  {f.reason[:100]}")
    return "\n".join(lines)


@app.command("submit")
def submit(
    ctx: typer.Context,
    address: Annotated[str, typer.Option(help="The cluster's job server, e.g. http://head:8265")],
    stages: Stages = "all",
    podcast: Podcasts = None,
    published_after: After = None,
    published_before: Before = None,
    status: Statuses = None,
    not_made_by: NotMadeBy = None,
    limit: Limit = None,
    force: Annotated[bool, typer.Option(help="Redo episodes already done")] = False,
    retry_failed: Annotated[bool, typer.Option(help="Retry episodes that failed for good")] = False,
    wait: Annotated[bool, typer.Option(help="Follow the job's logs until it ends")] = False,
    env: EnvVars = None,
    ignore_server_settings: IgnoreServer = False,
) -> None:
    """Submit the same run as a Ray Job to a cluster; prints the job id and how to follow it."""
    _selection(podcast, published_after, published_before, status, not_made_by, limit)
    parse_stages(stages)
    settings = _settings()
    args = ["--stages", stages]
    for p in podcast or []:
        args += ["--podcast", str(p)]
    if published_after:
        args += ["--published-after", published_after.isoformat()]
    if published_before:
        args += ["--published-before", published_before.isoformat()]
    for s in status or []:
        args += ["--status", s]
    for spec in not_made_by or []:
        args += ["--not-made-by", spec]
    if limit:
        args += ["--limit", str(limit)]
    args += ["--force"] if force else []
    args += ["--retry-failed"] if retry_failed else []
    args += ["--ignore-server-settings"] if ignore_server_settings else []
    entrypoint = f"{settings.batch.job_entrypoint} {shlex.join(args)}"
    from ray.job_submission import JobSubmissionClient

    env_vars = {}
    for spec in env or []:
        name, sep, value = spec.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{spec!r}: expected NAME=VALUE", param_hint="--env")
        env_vars[name] = value
    client = JobSubmissionClient(address)
    job_id = client.submit_job(
        entrypoint=entrypoint, runtime_env={"env_vars": env_vars} if env_vars else None
    )
    typer.echo(f"submitted Ray Job {job_id}: {entrypoint}")
    typer.echo(f"follow it:  ray job logs --address {address} --follow {job_id}")
    typer.echo(f"status:     ray job status --address {address} {job_id}")
    if wait:
        raise typer.Exit(_follow(client, job_id))


def _follow(client: Any, job_id: str, poll_s: float = 2.0) -> int:
    from ray.job_submission import JobStatus

    printed = 0
    while True:
        logs = client.get_job_logs(job_id)
        sys.stdout.write(logs[printed:])
        sys.stdout.flush()
        printed = len(logs)
        state = client.get_job_status(job_id)
        if state in {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED}:
            typer.echo(f"Ray Job {job_id}: {state.value}")
            return 0 if state == JobStatus.SUCCEEDED else 1
        time.sleep(poll_s)


@app.command("runs")
def runs(limit: Annotated[int, typer.Option(min=1)] = 20) -> None:
    """Recent batch runs and their counts."""
    settings = _settings()
    with ledger.connect(settings.database.url) as conn:
        records = ledger.recent_runs(conn, limit)
    typer.echo(f"{'run':<36}  {'state':<8}  {'stages':<40}  {'index':<24}  "
               "done  skip  fail  started")  # fmt: skip
    for r in records:
        typer.echo(
            f"{r.id:<36}  {r.state:<8}  {','.join(r.stages):<40}  {r.target_index:<24}  "
            f"{r.done:>4}  {r.skipped:>4}  {r.failed:>4}  {r.started_at:%Y-%m-%d %H:%M}"
        )


@app.command("failures")
def failures(run_id: str) -> None:
    """The episodes a run could not process, with their reasons."""
    settings = _settings()
    with ledger.connect(settings.database.url) as conn:
        rows = ledger.run_failures(conn, run_id)
    for row in rows:
        typer.echo(json.dumps(row, default=str))


if __name__ == "__main__":
    app()
