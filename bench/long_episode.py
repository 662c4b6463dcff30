"""Long episodes through the running stack: wall time per step and peak memory per process.

    .venv/bin/python -m bench.long_episode --minutes 60 180
    .venv/bin/python -m bench.long_episode --minutes 60 --transcribers 2

For each length it reads the labelled topic-shift transcripts aloud with espeak-ng (repeated
as needed; Debian's ``espeak-ng`` package), serves the MP3 and a one-episode feed from a
loopback HTTP server, and processes it online on what ``make run`` starts: a private Ray
cluster with both Serve apps (API ingress, transcriber, embedder, processor, the LLM on
vLLM), on a database, Redis key prefix and LanceDB prefix of its own, all removed at the end.
A listener's account subscribes to the feed over HTTP (marked verified in the database, as
following the mailed link would), and the episode's status is polled every half second:
each step's wall time is when the status moved on, with the step's progress as last seen.
Every second the resident memory of each Ray worker process and of vLLM's engine processes is
read (``/proc``), by its process title (``ray::ServeReplica:tellmemore:Transcriber``,
``VLLM::Worker`` and so on); the peak per title is printed, and how many audio chunks each
Whisper replica transcribed (Serve's request counter). Asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.search_http import free_port, load, private_database
from tellmemore.settings import Settings
from tests.support.audio_files import synthesized, topic_script

_FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>Long talks {key}</title>
<link>http://127.0.0.1/</link><description>Long episodes for a benchmark</description>
<item><title>{minutes:g} minutes on many topics</title><guid>long-{key}</guid>
<enclosure url="{url}/episode.mp3" type="audio/mpeg" length="{size}"/></item>
</channel></rss>"""


@dataclass
class Memory:
    """Peak resident memory per Ray process title, sampled every second (vLLM's engine core
    and model worker, children of the LLM replica, carry titles of their own)."""

    peaks: dict[str, float] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> None:
        while not self.stop.wait(1.0):
            for proc in Path("/proc").iterdir():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    title = (proc / "cmdline").read_bytes().split(b"\0")[0].decode()
                    if not title.startswith(("ray::", "VLLM::")):
                        continue
                    status = (proc / "status").read_text()
                    rss = next(line for line in status.splitlines() if line.startswith("VmRSS"))
                    mib = int(rss.split()[1]) / 1024
                    self.peaks[title] = max(self.peaks.get(title, 0.0), mib)


@contextlib.contextmanager
def served(folder: Path) -> Iterator[str]:
    """``folder`` over HTTP on 127.0.0.1 (a thread of this process)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args):  # type: ignore[no-untyped-def]
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@contextlib.contextmanager
def stack(base: Settings, transcribers: int = 1) -> Iterator[tuple[str, Settings]]:
    """Both Serve apps on a private Ray cluster over a private catalog, with ``transcribers``
    Whisper replicas; removed afterwards."""
    from raykit.local import set_ray_env, start_ray

    set_ray_env()  # as `make run` does, before Ray is imported
    import ray

    from serve_apps.builder import AppOptions
    from serve_apps.local import deploy
    from tellmemore.settings import RateLimitSettings, secret_environment

    with private_database(base) as db_url, tempfile.TemporaryDirectory(prefix="tmm-ray-") as tmp:
        tag = uuid.uuid4().hex[:8]
        settings = base.model_copy(update={
            "database": base.database.model_copy(update={"url": db_url}),
            "redis": base.redis.model_copy(update={"key_prefix": f"tmm-long-{tag}:"}),
            "lance": base.lance.model_copy(update={"prefix": f"lance-long-{tag}"}),
            "api": base.api.model_copy(update={"port": free_port()}),
            "rate_limit": RateLimitSettings(enabled=False),
            "feeds": base.feeds.model_copy(update={"allow_private_hosts": True}),
        })  # fmt: skip
        os.environ["RAY_TMPDIR"] = tmp
        started = time.perf_counter()
        start_ray(num_cpus=8, environment=secret_environment(settings))  # make run's
        try:
            whisper = AppOptions().transcriber.model_copy(update={"num_replicas": transcribers})
            options = AppOptions(transcriber=whisper)
            cluster = deploy(settings, options, with_llm=True, timeout_s=900)
            print(f"stack up on {cluster.url} in {time.perf_counter() - started:.0f} s")
            yield cluster.url, settings
        finally:
            ray.shutdown()


def process(url: str, settings: Settings, minutes: float, folder: Path) -> None:
    import psycopg

    made = time.perf_counter()
    mp3 = synthesized(topic_script(minutes), folder / "episode.mp3")
    print(f"\n{minutes:g}-minute episode: {mp3.stat().st_size / 2**20:.1f} MiB MP3 read aloud "
          f"in {time.perf_counter() - made:.0f} s; {load()}")  # fmt: skip
    with served(folder) as base:
        key = uuid.uuid4().hex[:8]
        feed = _FEED.format(key=key, minutes=minutes, url=base, size=mp3.stat().st_size)
        (folder / "feed.xml").write_text(feed)
        email = f"long-{key}@example.com"
        http = httpx.Client(base_url=url, timeout=60)
        password = "long bench pw 1"  # noqa: S105 (a throwaway account in a private database)
        answer = http.post("/auth/register", json={"email": email, "password": password})
        answer.raise_for_status()
        with psycopg.connect(settings.database.url, autocommit=True) as conn:
            conn.execute("UPDATE users SET email_verified_at = now() WHERE email = %s", (email,))
        http.headers["Authorization"] = f"Bearer {answer.json()['tokens']['access_token']}"

        def signed_in(path: str) -> dict[str, Any]:
            """GET ``path``, logging in again when the access token (15 minutes) expired: a
            long episode outlives it."""
            answer = http.get(path)
            if answer.status_code == 401:
                login = http.post("/auth/login", json={"email": email, "password": password})
                login.raise_for_status()
                http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
                answer = http.get(path)
            answer.raise_for_status()
            found: dict[str, Any] = answer.json()
            return found

        memory = Memory()
        threading.Thread(target=memory.sample, daemon=True).start()
        began = time.perf_counter()
        podcast = http.post("/podcasts", json={"feed_url": f"{base}/feed.xml"})
        podcast.raise_for_status()
        podcast_id = podcast.json()["podcast"]["id"]
        episode: dict[str, Any] = {}
        while not episode:
            page = signed_in(f"/podcasts/{podcast_id}/episodes")["items"]
            episode = page[0] if page else {}
            time.sleep(0.5)
        steps: dict[str, float] = {}
        progress: dict[str, str] = {}
        current, since = "queued", time.perf_counter()
        while True:
            status = signed_in(f"/episodes/{episode['id']}")
            step = status["processing_step"] or status["status"]
            if step != current:
                steps[current] = steps.get(current, 0.0) + time.perf_counter() - since
                current, since = step, time.perf_counter()
            if status.get("progress") and status["progress"].get("total"):
                p = status["progress"]
                progress[step] = f"{p['done']}/{p['total']} {p['unit']}"
            if status["status"] in ("done", "failed"):
                break
            time.sleep(0.5)
        memory.stop.set()
    total = time.perf_counter() - began
    outcome = status.get("error_code") or "no error"
    passages = status.get("segment_count")
    print(f"  {status['status']} in {total:.0f} s ({outcome}), {passages} passages")
    for step, seconds in steps.items():
        print(f"  {step:<14} {seconds:7.1f} s  {progress.get(step, '')}")
    print("  peak resident memory per process:")
    for title, mib in sorted(memory.peaks.items(), key=lambda kv: -kv[1])[:10]:
        print(f"    {mib:7.0f} MiB  {title[:90]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[60.0])
    parser.add_argument("--transcribers", type=int, default=1, help="Whisper replicas")
    args = parser.parse_args()
    from tellmemore.settings import load_settings

    with stack(load_settings(), args.transcribers) as (url, settings):
        for minutes in args.minutes:
            with tempfile.TemporaryDirectory(prefix="tmm-long-") as folder:
                process(url, settings, minutes, Path(folder))
            chunks_per_replica()


def chunks_per_replica() -> None:
    """Audio chunks each Whisper replica has transcribed so far, from Serve's own request
    counter on the node's metrics endpoint (published every few seconds, hence the wait)."""
    from raykit.local import metrics_url

    time.sleep(12)
    counts: dict[str, float] = {}
    for line in httpx.get(metrics_url(), timeout=10).text.splitlines():
        if line.startswith("ray_serve_deployment_request_counter_total{") and (
            'deployment="Transcriber"' in line
        ):
            replica = line.split('replica="', 1)[1].split('"', 1)[0]
            counts[replica] = counts.get(replica, 0.0) + float(line.rsplit(" ", 1)[1])
    shown = ", ".join(f"{replica}: {n:.0f}" for replica, n in sorted(counts.items()))
    print(f"  chunks per transcriber replica, so far: {shown or 'none reported'}")


if __name__ == "__main__":
    main()
