"""The production Serve config on a multi-node cluster: placement, scaling from zero and back,
and a subscribed podcast processed end to end.

One scenario in order, as an operator would watch it: deployed with the GPU group at zero,
episodes queued by a subscription bring GPU nodes up (Whisper and the LLM only there), the
episodes finish, and after the idle timeouts the GPU group is back at zero.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any
from unittest.mock import patch

import psycopg
import pytest

from serve_apps.kuberay import rayjob
from tellmemore.index import connect, index_for
from tellmemore.settings import Settings
from tests.support.production_cluster import (
    CPU_GROUP,
    GPU_GROUP,
    Deployed,
    dump,
    replicas,
    signed_in,
)

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

GPU_DEPLOYMENTS = ("Transcriber", "LLMServer")


def _on_gpu(replica: dict[str, Any]) -> bool:
    return any(replica["deployment"].startswith(name) for name in GPU_DEPLOYMENTS)


def _check_placement(deployed: Deployed) -> list[dict[str, Any]]:
    """Every replica off the head; Whisper and LLM replicas on GPU-group nodes only, and every
    other replica (API, embedder, processor, the LLM app's router) on the CPU group only."""
    cluster = deployed.cluster
    nodes = cluster.alive_nodes()
    head = {n["node_id"] for n in nodes if n.get("is_head_node")}
    gpu_nodes = {n["node_id"] for n in cluster.nodes_of(GPU_GROUP.name)}
    cpu_nodes = {n["node_id"] for n in cluster.nodes_of(CPU_GROUP.name)}
    placed = replicas(cluster)
    assert not [r for r in placed if r["node_id"] in head], f"replicas on the head: {placed}"
    wrong = [r for r in placed if _on_gpu(r) and r["node_id"] not in gpu_nodes]
    assert not wrong, f"model replicas outside the GPU group: {dump(wrong)}"
    wrong = [r for r in placed if not _on_gpu(r) and r["node_id"] not in cpu_nodes]
    assert not wrong, f"CPU replicas outside the CPU group: {dump(wrong)}"
    return placed


def _processors(placed: list[dict[str, Any]]) -> int:
    return sum(1 for r in placed if r["app"] == "tellmemore" and r["deployment"] == "Processor")


def test_gpu_group_scales_from_zero_processes_a_podcast_and_returns_to_zero(
    deployed: Deployed,
) -> None:
    cluster = deployed.cluster
    timeline: dict[str, float] = {}
    started = time.monotonic()

    def mark(what: str) -> None:
        timeline[what] = round(time.monotonic() - started, 1)
        print(f"{timeline[what]:7.1f} s  {what}")

    # Deployed and idle: both apps RUNNING (the fixture waited), nothing on the head, no GPU.
    assert cluster.nodes_of(CPU_GROUP.name), "the CPU group's minimum node is missing"
    assert cluster.nodes_of(GPU_GROUP.name) == [], "GPU nodes while nothing needs them"
    _check_placement(deployed)
    mark("deployed, GPU group at 0")

    http = signed_in(deployed)
    try:
        answer = http.post("/podcasts", json={"feed_url": f"{deployed.url}/demo/feed.xml"})
        assert answer.status_code == 201, answer.text
        podcast_id = answer.json()["podcast"]["id"]
        episodes = http.get(f"/podcasts/{podcast_id}/episodes").json()["items"]
        queued = [e["id"] for e in episodes if e["status"] in ("queued", "processing")]
        assert queued, episodes
        mark(f"subscribed, {len(queued)} episodes queued")

        cluster.wait_for(lambda: cluster.nodes_of(GPU_GROUP.name), "a GPU node", 180)
        mark("first GPU node up")
        most_gpu = most_processors = 0
        seen: set[str] = set()
        deadline = time.monotonic() + 900
        while True:
            placed = _check_placement(deployed)
            seen |= {r["deployment"] for r in placed if _on_gpu(r)}
            most_gpu = max(most_gpu, len(cluster.nodes_of(GPU_GROUP.name)))
            most_processors = max(most_processors, _processors(placed))
            states = [http.get(f"/episodes/{e}").json() for e in queued]
            if all(s["status"] in ("done", "failed") for s in states):
                break
            assert time.monotonic() < deadline, dump(states)
            time.sleep(3)
        mark("episodes finished")
        assert [s["status"] for s in states] == ["done"] * len(states), dump(states)
        assert all(s["summary"] and s["summary"]["summary"] for s in states)
        assert {"Transcriber"} <= {d.split(":")[0] for d in seen}, seen
        # The processor follows the queue (serve_apps/autoscaling.py): 3 jobs at 2 per
        # replica ask for 2 replicas, where Serve's request-based scaling would keep 1.
        assert most_processors >= 2, f"the processor never scaled: {most_processors}"
        # Searchable through the embedder deployment: the first demo episode is about currents.
        hits = http.get("/search", params={"q": "ocean currents", "limit": 3}).json()
        assert hits["results"], hits
    finally:
        http.close()

    cluster.wait_for(
        lambda: not [r for r in replicas(cluster) if _on_gpu(r)], "model replicas gone", 300, 2
    )
    mark("model replicas scaled to zero")
    cluster.wait_for(
        lambda: cluster.nodes_of(GPU_GROUP.name) == [], "the GPU group back at 0", 300, 2
    )
    mark("GPU group back at 0")
    cluster.wait_for(lambda: _processors(replicas(cluster)) == 1, "one processor again", 120, 2)
    mark("processor back at 1 replica")
    print(f"most GPU nodes at once: {most_gpu}, most processors: {most_processors}")
    print(f"timeline: {timeline}")


# What the RayJob's settings (serve_apps/kuberay.py: rayjob()) cannot have on this machine, and
# nothing else: the models as published to the local S3 store (the same URIs the Serve apps got)
# and this node's cache, on CPU, one actor per model stage for 2 cores, loopback feeds allowed.
RAYJOB_OVERLAY = {
    "TMM_MODELS__CACHE_DIR": None,  # the node's own (set for every node of the cluster)
    "TMM_MODELS__WHISPER__DEVICE": "cpu",
    "TMM_MODELS__WHISPER__COMPUTE_TYPE": "int8",
    "TMM_MODELS__LLM__MAX_MODEL_LEN": "2048",
    "TMM_BATCH__TRANSCRIBE_ACTORS": "1",
    "TMM_BATCH__SUMMARIZE_ACTORS": "1",
    "TMM_BATCH__EMBED_ACTORS": "1",
    # The demo podcast is served by the API itself on loopback (as in overlay.yaml).
    "TMM_FEEDS__ALLOW_PRIVATE_HOSTS": "true",
}


def _rayjob_env(deployed: Deployed) -> dict[str, str]:
    """The RayJob's batch settings with RAYJOB_OVERLAY (and the published models) on top; the
    overlay's changes are printed."""
    spec = rayjob()["spec"]["rayClusterSpec"]["workerGroupSpecs"][1]["template"]["spec"]
    job = {e["name"]: e["value"] for e in spec["containers"][0]["env"]
           if e["name"].startswith(("TMM_BATCH__", "TMM_MODELS__"))}  # fmt: skip
    published = next(a for a in deployed.config["applications"] if a["name"] == "tellmemore")
    overlay = {
        **RAYJOB_OVERLAY,
        **{k: v for k, v in published["runtime_env"]["env_vars"].items()
           if k.endswith("__MODEL") and k in job},
    }  # fmt: skip
    env = {k: v for k, v in {**job, **overlay}.items() if v is not None}
    for key in sorted(overlay):
        print(f"  {key}: {job.get(key)!r} -> {overlay[key]!r}")
    return env


ENDED = ("SUCCEEDED", "FAILED", "STOPPED")


def _job_status(deployed: Deployed, job_id: str) -> str:
    return str(deployed.cluster.get(f"/api/jobs/{job_id}")["status"])


def _lance_segments(
    deployed: Deployed, podcast_id: str, env: dict[str, str]
) -> list[dict[str, Any]]:
    """The passages of a podcast in the table the batch run wrote: the active index's, else
    the one its embedder setting names (as pipelines.run.make_plan picks it)."""
    with patch.dict(os.environ, {**deployed.cluster.env, **env}):
        settings = Settings()
    with psycopg.connect(deployed.database_url) as conn:
        table = conn.execute("SELECT segments_table FROM search_indexes WHERE active").fetchone()
    name = table[0] if table else index_for(settings.models.embedder).segments_table
    db = connect(settings.lance, settings.s3)
    query = db.open_table(name).search().where(f"podcast_id = '{podcast_id}'")
    rows: list[dict[str, Any]] = query.select(["id", "episode_id"]).limit(None).to_list()
    return rows


def test_backfill_submitted_with_the_rayjob_settings_survives_a_gpu_node_killed(
    deployed: Deployed,
) -> None:
    """(a) `tmm-batch submit` reprocesses the demo podcast with the RayJob's own settings; the
    GPU group scales up for its model actors; one GPU node is SIGKILLed mid-run. The run
    completes, and every passage is in the index exactly once."""
    cluster = deployed.cluster
    http = signed_in(deployed)
    try:
        answer = http.post("/podcasts", json={"feed_url": f"{deployed.url}/demo/feed.xml"})
        assert answer.status_code in (200, 201), answer.text
        podcast = answer.json()["podcast"]["id"]

        def finished() -> list[dict[str, Any]] | None:
            items = http.get(f"/podcasts/{podcast}/episodes").json()["items"]
            done = [e for e in items if e["status"] == "done"]
            busy = [e for e in items if e["status"] in ("queued", "processing")]
            return done if done and not busy else None

        episodes = cluster.wait_for(finished, "the podcast processed online", 900, 3)
    finally:
        http.close()
    before = {e["id"]: e["segment_count"] for e in episodes}

    print("RayJob settings -> submitted (overlay):")
    env = _rayjob_env(deployed)
    submit = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "tmm-batch"), "submit", "--address", cluster.dashboard_url,
         "--podcast", podcast, "--force", *(f"--env={k}={v}" for k, v in sorted(env.items()))],
        env={**cluster.process_env(), "TMM_BATCH__JOB_ENTRYPOINT":
             f"{ROOT / '.venv' / 'bin' / 'tmm-batch'} run"},
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    job_id = submit.stdout.split("submitted Ray Job ", 1)[1].split(":", 1)[0]
    started = time.monotonic()

    def model_actor() -> tuple[str, str] | None:
        if _job_status(deployed, job_id) in ENDED:  # before its model actors started
            logs = cluster.get(f"/api/jobs/{job_id}/logs")["logs"]
            raise AssertionError(f"the backfill ended early:\n{logs[-4000:]}")
        gpu = {n["node_id"] for n in cluster.nodes_of(GPU_GROUP.name)}
        for actor in cluster.actors():
            # Ray Data's actors, not Serve's replicas nor the Serve proxy on that node.
            serve = actor["class_name"].startswith(("ServeReplica", "ProxyActor"))
            if actor["node_id"] in gpu and not serve:
                return str(actor["node_id"]), str(actor["class_name"])
        return None

    victim, actor = cluster.wait_for(model_actor, "a batch actor on a GPU node", 300)
    time.sleep(5)  # loading its model, or working
    assert _job_status(deployed, job_id) == "RUNNING"
    cluster.kill_node(victim)
    killed = round(time.monotonic() - started, 1)
    print(f"{killed:6.1f} s  killed GPU node ...{victim[-8:]} under {actor}")

    status = cluster.wait_for(
        lambda: (s := _job_status(deployed, job_id)) in ENDED and s,
        "the backfill to end", 900, 3,
    )  # fmt: skip
    took = round(time.monotonic() - started, 1)
    logs = cluster.get(f"/api/jobs/{job_id}/logs")["logs"]
    print(f"{took:6.1f} s  Ray Job {status}\n{logs[-1500:]}")
    assert status == "SUCCEEDED", logs[-4000:]
    with psycopg.connect(deployed.database_url) as conn:
        run = conn.execute(
            "SELECT selected, done, failed, state FROM batch_runs ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
    assert run == (len(before), len(before), 0, "finished"), run
    rows = _lance_segments(deployed, podcast, env)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "a passage written twice"
    per_episode = {e: sum(r["episode_id"] == e for r in rows) for e in before}
    with psycopg.connect(deployed.database_url) as conn:
        counts: dict[str, int] = dict(conn.execute(
            "SELECT id::text, segment_count FROM episodes WHERE podcast_id = %s", (podcast,)
        ).fetchall())  # fmt: skip
    assert per_episode == {e: counts[e] for e in before}, (per_episode, counts)
    print(f"backfill of {len(before)} episodes: node killed at {killed} s, done in {took} s; "
          f"{len(ids)} passages, each once")  # fmt: skip
