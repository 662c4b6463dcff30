"""Batch pipeline throughput on Ray Data against the same models called in a plain loop.

    .venv/bin/python -m bench.pipeline                      # 6 episodes, all stages (~10 min)
    .venv/bin/python -m bench.pipeline --episodes 4 --stages transcribe,segment,embed
    .venv/bin/python -m bench.pipeline --num-cpus 4 --seconds 120

The goal (the issue): on CPU the pipeline keeps at least 0.9 of the bare models' throughput.
Everything runs against real services in resources of its own, removed at the end: a fresh
PostgreSQL database (``tmm_bench_<hex>``, migrated, dropped WITH (FORCE)), an S3 bucket (which
also holds the LanceDB tables), a Redis key prefix. Episodes are real read speech (Debian's
LibriVox clips, joined with pauses to ``--seconds`` each, as MP3) served by a loopback HTTP
server from a podcast feed added to the catalog, as the pipeline tests do.

- **pipeline**: a private local Ray cluster (``--num-cpus`` logical CPUs; the machine's cores
  are what they are) and three ``BatchRun.run`` calls, each over a podcast of its own: a
  one-episode warm-up (not counted: it puts the model files in the page cache for both sides),
  a one-episode run and the ``--episodes`` run, with one episode per block and per embedding
  batch (so a small backlog streams through every stage). *End to end* is the wall clock of
  the last (planning, actor start-up and model loads, which Ray Data repeats in every run,
  writes to S3, LanceDB and PostgreSQL, cache invalidation after the run). *Steady state* is the
  difference between the two measured runs: what the ``--episodes`` run does beyond the
  one-episode run, in the time it takes beyond it, so the fixed costs cancel. (The time
  between the first and the last episode out is printed too, but it is no rate: episodes
  that queue behind an actor still loading its model come out in a burst.) Every first
  episode is the same audio. Audio minutes are read back from ``episodes.audio_duration_s``,
  segments from the run's report.
- **plain loop**: after the Ray cluster is shut down, one process runs the same ``models/``
  code per episode: download (httpx), Whisper, the segmenter, the summarizer on in-process
  vLLM (when summarizing), the embedder; nothing is written. *End to end* includes the model
  loads; *steady state* leaves the loads and the first episode out (first calls warm lazy
  state), which is the loop's own "N episodes minus one episode".

Ratios are pipeline / loop per figure. Both sides share the machine with whatever else runs,
so the load average is printed before and after. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import httpx
import numpy as np
import psycopg
import redis
from psycopg import sql

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from models import audio
from models.embedder import Embedder
from models.segmenter import segment_transcript
from models.settings import LLMSettings
from models.summarizer.backends import make_backend
from models.summarizer.summarizer import Summarizer
from models.whisper import WhisperTranscriber
from pipelines.plan import Stage, parse_stages
from pipelines.run import BatchRun, RunOptions
from pipelines.selection import Selection
from tellmemore.settings import (
    BatchSettings,
    FeedSettings,
    Settings,
    load_settings,
    secret_environment,
)
from tellmemore.storage import ObjectStore, make_s3_client, migrate
from tellmemore.wiring import open_services
from tests.support.audio_files import encode, librivox
from tests.support.http_server import LoopbackHTTPServer

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Figures:
    episodes: int
    audio_s: float
    segments: int
    seconds: float

    def rates(self) -> tuple[float, float, float]:
        """Episodes per minute, audio minutes per minute, segments per second."""
        s = max(self.seconds, 1e-9)
        return self.episodes * 60 / s, self.audio_s / s, self.segments / s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=6, help="episodes measured (>= 2)")
    parser.add_argument("--seconds", type=float, default=60.0, help="speech per episode")
    parser.add_argument("--stages", default="all", help="as tmm-batch run --stages")
    parser.add_argument("--num-cpus", type=int, default=8, help="CPUs of the local Ray cluster")
    args = parser.parse_args()
    if args.episodes < 2:
        parser.error("--episodes must be at least 2 (the steady state leaves one out)")
    stages = parse_stages(args.stages)
    started = time.perf_counter()
    cpu = next((ln.split(":", 1)[1].strip() for ln in _cpuinfo() if "model name" in ln), "")
    print(f"machine: {os.cpu_count()} cores {cpu} ({platform.python_version()}); {_load()}")
    print(
        f"stages {','.join(s.value for s in Stage if s in stages)}; {args.episodes} episodes "
        f"of ~{args.seconds:.0f} s speech; Ray cluster of {args.num_cpus} logical CPUs"
    )
    with (
        tempfile.TemporaryDirectory(prefix="tmm-bench-pipeline-") as tmp,
        _resources(load_settings()) as settings,
    ):
        server = LoopbackHTTPServer().start()
        try:
            podcasts = [
                _publish(settings, server, Path(tmp), name, count, args.seconds)
                for name, count in (("warm-up", 1), ("one", 1), ("bench", args.episodes))
            ]
            podcast = podcasts[-1]
            pipe_all, pipe_steady = _pipeline(settings, stages, args.num_cpus, podcasts)
            loop_all, loop_steady = _loop(settings, stages, podcast, Path(tmp))
        finally:
            server.stop()
    _table(
        [
            ("pipeline, end to end", pipe_all),
            ("pipeline, steady state", pipe_steady),
            ("plain loop, end to end", loop_all),
            ("plain loop, steady state", loop_steady),
        ]
    )
    for name, pipe, loop in (
        ("end to end", pipe_all, loop_all),
        ("steady state", pipe_steady, loop_steady),
    ):
        ratios = [
            p / q if q else float("nan") for p, q in zip(pipe.rates(), loop.rates(), strict=True)
        ]
        print(
            f"ratio pipeline/loop, {name:<13} episodes/min {ratios[0]:.2f}, audio min/min "
            f"{ratios[1]:.2f}, segments/s {ratios[2]:.2f}  (goal >= 0.90)"
        )
    print(f"\n{_load()}; total {time.perf_counter() - started:.0f} s")


@contextlib.contextmanager
def _resources(base: Settings) -> Iterator[Settings]:
    """A database, bucket, Redis prefix and lance prefix of the bench's own, removed after."""
    key = uuid.uuid4().hex[:10]
    name = f"tmm_bench_{key}"
    admin = urlsplit(base.database.url)._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = urlsplit(base.database.url)._replace(path=f"/{name}").geturl()
    models = base.models.model_copy(
        update={"dir": ROOT / ".local" / "models", "llm": LLMSettings(max_model_len=2048)}
    )
    settings = base.model_copy(
        update={
            "database": base.database.model_copy(update={"url": url, "pool_min_size": 0}),
            "s3": base.s3.model_copy(update={"bucket": f"tmm-bench-{key}"}),
            "redis": base.redis.model_copy(update={"key_prefix": f"tmm-bench-{key}:"}),
            "lance": base.lance.model_copy(update={"prefix": f"lance-bench-{key}"}),
            "feeds": FeedSettings(allow_private_hosts=True),
            "models": models,
            "batch": BatchSettings(episodes_per_block=1, embed_batch_episodes=1),
        }
    )
    store = ObjectStore(settings.s3)
    try:
        asyncio.run(migrate(url))
        store.ensure_bucket()
        yield settings
    finally:
        with contextlib.suppress(Exception):
            for k in store.keys(""):
                store.delete(k)
            make_s3_client(settings.s3).delete_bucket(Bucket=settings.s3.bucket)
        client = redis.Redis.from_url(settings.redis.url)
        for k in client.scan_iter(match=settings.redis.key_prefix + "*"):
            client.delete(k)
        client.close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _publish(
    settings: Settings,
    server: LoopbackHTTPServer,
    folder: Path,
    name: str,
    count: int,
    seconds: float,
) -> UUID:
    """A podcast of ``count`` speech episodes on ``server``, added to the catalog."""
    clips = [audio.decode(wav) for wav, _ in librivox()]
    pause = np.zeros(audio.SAMPLE_RATE, dtype=np.float32)
    key = uuid.uuid4().hex[:8]
    items = []
    for n in range(count):
        pieces: list[Any] = []
        while sum(len(p) for p in pieces) < seconds * audio.SAMPLE_RATE:
            pieces += [clips[(n + len(pieces) // 2) % len(clips)], pause]
        mp3 = encode(np.concatenate(pieces), folder / f"{key}-{n}.mp3", "libmp3lame")
        url = server.add(f"/{key}/{n}.mp3", body=mp3.read_bytes(), content_type="audio/mpeg")
        items.append(
            f'<item><title>{name} {n}</title><guid isPermaLink="false">{key}-{n}</guid>'
            f"<pubDate>Mon, {n + 1:02d} Nov 2026 09:00:00 +0000</pubDate>"
            f'<enclosure url="{url}" length="{mp3.stat().st_size}" type="audio/mpeg"/></item>'
        )
    feed = (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Bench {name}</title>'
        f"<link>{server.base_url}</link><description>Read speech.</description>"
        f"{''.join(items)}</channel></rss>"
    ).encode()
    feed_url = server.add(f"/{key}/feed.xml", body=feed)

    async def add() -> UUID:
        async with open_services(settings, wait_for_db=True) as services:
            return (await services.catalog.add_document(feed_url, feed)).podcast_id

    return asyncio.run(add())


def _pipeline(
    settings: Settings, stages: frozenset[Stage], num_cpus: int, podcasts: list[UUID]
) -> tuple[Figures, Figures]:
    import ray
    from ray.data import DataContext

    from raykit.local import start_ray

    start_ray(num_cpus=num_cpus, environment=secret_environment(settings))
    try:
        DataContext.get_current().enable_progress_bars = False
        runs = [_run(settings, stages, p) for p in podcasts]
    finally:
        ray.shutdown()
    (warm, _), (one, _), (many, arrivals) = runs
    first, last = arrivals[0], arrivals[-1]
    print(
        f"pipeline runs: warm-up {warm.seconds:.1f} s (not counted); 1 episode {one.seconds:.1f} "
        f"s; {many.episodes} episodes {many.seconds:.1f} s (first out after {first:.1f} s, "
        f"last after {last:.1f} s)"
    )
    steady = Figures(
        many.episodes - one.episodes,
        many.audio_s - one.audio_s,
        many.segments - one.segments,
        many.seconds - one.seconds,
    )
    return many, steady


def _run(
    settings: Settings, stages: frozenset[Stage], podcast: UUID
) -> tuple[Figures, list[float]]:
    """One batch run over ``podcast``: its figures and when each episode came out."""
    arrivals: list[float] = []
    run = BatchRun(settings, progress=lambda o, r: arrivals.append(time.monotonic()))
    started = time.monotonic()
    report = run.run(RunOptions(stages=stages, selection=Selection(podcast_ids=(podcast,))))
    wall = time.monotonic() - started
    for failure in report.failures:
        print(f"  FAILED {failure.title}: {failure.stage} {failure.code} {failure.reason}")
    if report.done < report.selected:
        raise SystemExit(f"only {report.done} of {report.selected} episodes went through")
    with psycopg.connect(settings.database.url) as conn:
        row = conn.execute(
            "SELECT sum(audio_duration_s) FROM episodes WHERE podcast_id = %s", (podcast,)
        ).fetchone()
    audio_s = float(row[0] or 0.0) if row else 0.0
    return Figures(report.done, audio_s, report.segments, wall), [t - started for t in arrivals]


def _loop(
    settings: Settings, stages: frozenset[Stage], podcast: UUID, tmp: Path
) -> tuple[Figures, Figures]:
    m = settings.models
    loads: dict[str, float] = {}
    spent: dict[str, float] = {}

    def timed(what: str, into: dict[str, float], work: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        result = work(*args, **kwargs)
        into[what] = into.get(what, 0.0) + time.perf_counter() - start
        return result

    with psycopg.connect(settings.database.url) as conn:
        episodes = conn.execute(
            "SELECT id::text, title, enclosure_url FROM episodes WHERE "
            "podcast_id = %s ORDER BY sort_at, id",
            (podcast,),
        ).fetchall()
    whisper = timed("whisper", loads, WhisperTranscriber, m.whisper, m.dir)
    summarizer = None
    if Stage.SUMMARIZE in stages:
        backend = timed("vLLM", loads, make_backend, m.llm, m.dir)
        summarizer = Summarizer(backend, max_output_tokens=m.llm.max_output_tokens)
    embedder = timed("embedder", loads, Embedder, m.embedder)
    per_episode: list[tuple[float, float, int]] = []  # seconds, audio seconds, segments
    with httpx.Client(timeout=60) as http:
        for episode_id, title, url in episodes:
            start = time.perf_counter()
            path = tmp / f"loop-{episode_id}.mp3"
            path.write_bytes(timed("download", spent, http.get, url).raise_for_status().content)
            transcript = timed("transcribe", spent, whisper.transcribe_file, path)
            segments = timed("segment", spent, segment_transcript, transcript, episode_id)
            texts = [s.text for s in segments]
            if summarizer is not None:
                summary = timed("summarize", spent, summarizer.summarize, segments, title=title)
                texts.append(summary.summary)
            timed("embed", spent, embedder.embed_passages, texts)
            per_episode.append((time.perf_counter() - start, transcript.duration_s, len(segments)))
    print(
        "plain loop: model loads "
        + ", ".join(f"{k} {v:.1f} s" for k, v in loads.items())
        + "; per stage "
        + ", ".join(f"{k} {v:.1f} s" for k, v in spent.items())
    )
    seconds, audio_s, segs = (list(column) for column in zip(*per_episode, strict=True))
    return (
        Figures(len(episodes), sum(audio_s), sum(segs), sum(loads.values()) + sum(seconds)),
        Figures(len(episodes) - 1, sum(audio_s[1:]), sum(segs[1:]), sum(seconds[1:])),
    )


def _table(rows: list[tuple[str, Figures]]) -> None:
    print(
        f"\n{'':<26}{'episodes':>9}{'audio min':>10}{'segments':>9}{'seconds':>9}"
        f"{'episodes/min':>13}{'audio min/min':>14}{'segments/s':>11}"
    )
    for name, f in rows:
        per_min, audio_per_min, per_s = f.rates()
        print(
            f"{name:<26}{f.episodes:>9}{f.audio_s / 60:>10.2f}{f.segments:>9}"
            f"{f.seconds:>9.1f}{per_min:>13.2f}{audio_per_min:>14.2f}{per_s:>11.3f}"
        )


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


if __name__ == "__main__":
    main()
