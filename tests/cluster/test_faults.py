"""Faults on the production Serve config, as Ray's own chaos tests make them: a GPU group with
no capacity at all, a node carrying one of the two API replicas killed under load, and the
head's GCS killed and restarted.

One cluster for the module, shaped like production but with two CPU nodes (so the API's two
replicas can be on different nodes) and a GPU group that can never get a node, as when a spot
market has no capacity; its GCS keeps its state in a Redis of its own (GCS fault tolerance, as
KubeRay configures it), so the last test can take the control plane away and bring it back.
Each test prints its figures.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tellmemore.settings import RedisSettings, S3Settings
from tests.support.fake_cluster import NodeType
from tests.support.http_server import LoopbackHTTPServer
from tests.support.production_cluster import (
    CPU_GROUP,
    GPU_GROUP,
    Deployed,
    backlog_feed,
    dump,
    production_cluster,
    ray_cli,
    replicas,
    signed_in,
)
from tests.support.redis_server import redis_server

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

TWO_CPU_NODES = NodeType(CPU_GROUP.name, CPU_GROUP.resources, min_workers=2, max_workers=2)
NO_GPU_CAPACITY = NodeType(GPU_GROUP.name, GPU_GROUP.resources, min_workers=0, max_workers=0)
DEADLINE_S = 15


@pytest.fixture(scope="module")
def deployed(
    tmp_path_factory: pytest.TempPathFactory,
    redis_settings: RedisSettings,
    s3_settings: S3Settings,
    database_url: str,
) -> Iterator[Deployed]:
    server = os.environ.get("TMM_DATABASE__URL", database_url)
    extra = {
        # Production waits 15 minutes for a transcriber; the same mechanism, sooner.
        "TMM_PROCESSING__TRANSCRIBE_DEADLINE_S": str(DEADLINE_S),
        "TMM_PROCESSING__MAX_ATTEMPTS": "2",
        "TMM_PROCESSING__ENQUEUE_NEWEST": "1",
    }
    folder = tmp_path_factory.mktemp("faults")
    with redis_server(folder / "gcs-redis") as gcs_redis:
        # GCS fault tolerance as KubeRay's gcsFaultToleranceOptions sets it up: the GCS keeps
        # the cluster's state in an external Redis, and raylets wait for a restarted GCS.
        extra |= {
            "RAY_REDIS_ADDRESS": gcs_redis,
            "RAY_external_storage_namespace": f"tmm-{uuid.uuid4().hex[:8]}",
            "RAY_gcs_rpc_server_reconnect_timeout_s": "120",
        }
        with production_cluster(
            folder, server, redis_settings, s3_settings,
            node_types=(TWO_CPU_NODES, NO_GPU_CAPACITY), extra_env=extra,
        ) as deployed:  # fmt: skip
            deployed.cluster.wait_for(
                lambda: len(deployed.cluster.nodes_of(CPU_GROUP.name)) == 2, "two CPU nodes", 120
            )
            yield deployed


def _job(database_url: str, episode_id: str) -> dict[str, Any] | None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT state, attempts, last_error_code, last_error FROM jobs "
            "WHERE key = %s ORDER BY id DESC LIMIT 1",
            (episode_id,),
        ).fetchone()
    if row is None:
        return None
    return {"state": row[0], "attempts": row[1], "code": row[2], "error": row[3]}


def test_no_gpu_capacity_fails_each_attempt_by_its_deadline_then_dead_letters(
    deployed: Deployed,
) -> None:
    """(d) A transcriber that can never be placed: each attempt ends at the deadline with
    ``transcriber_unavailable``, the job is retried, then dead-lettered; the API stays up."""
    feeds = LoopbackHTTPServer().start()
    # One episode without a publisher transcript (the demo feed's newest has one), so it needs
    # Whisper.
    feed = feeds.add("/asr-only/feed.xml", body=backlog_feed(deployed.url, 1))
    http = signed_in(deployed)
    try:
        answer = http.post("/podcasts", json={"feed_url": feed})
        assert answer.status_code == 201, answer.text
        podcast = answer.json()["podcast"]["id"]
        queued = [
            e["id"]
            for e in http.get(f"/podcasts/{podcast}/episodes").json()["items"]
            if e["status"] in ("queued", "processing")
        ]
        assert len(queued) == 1, queued
        episode = queued[0]
        started = time.monotonic()
        seen: list[tuple[float, dict[str, Any]]] = []
        while True:
            job = _job(deployed.database_url, episode)
            if job and (not seen or seen[-1][1] != job):
                seen.append((round(time.monotonic() - started, 1), job))
                print(f"{seen[-1][0]:6.1f} s  {job}")
            if job and job["state"] == "dead":
                break
            assert time.monotonic() - started < 8 * DEADLINE_S, dump(seen)
            # Whatever the processor waits for, the API answers.
            assert http.get("/health").status_code == 200
            time.sleep(0.5)
        state = http.get(f"/episodes/{episode}").json()
    finally:
        http.close()
        feeds.stop()
    retried = [j for _, j in seen if j["state"] == "queued" and j["attempts"] == 1]
    assert retried and retried[0]["code"] == "transcriber_unavailable", dump(seen)
    dead = seen[-1][1]
    assert dead["attempts"] == 2 and dead["code"] == "transcriber_unavailable", dump(seen)
    assert state["status"] == "failed" and state["error_code"] == "transcriber_unavailable"
    # No GPU node was ever started for it: the group has no capacity.
    assert deployed.cluster.nodes_of(GPU_GROUP.name) == []
    first_failure = next(t for t, j in seen if j["state"] == "queued" and j["attempts"] == 1)
    print(f"first attempt failed at {first_failure} s, dead-lettered at {seen[-1][0]} s "
          f"(deadline {DEADLINE_S} s, 2 attempts)")  # fmt: skip


class _Load:
    """Steady loopback load on one API route from a few threads; every answer recorded."""

    def __init__(self, url: str, threads: int = 6) -> None:
        self.url = url
        self.results: list[tuple[float, bool, float]] = []  # (sent at, ok, seconds)
        self.failures: list[tuple[float, str]] = []  # (sent at, what came back)
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def start(self) -> _Load:
        self.started = time.monotonic()
        for worker in self._workers:
            worker.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(30)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self._stop.is_set():
                sent = time.monotonic()
                try:
                    answer = client.get("/podcasts", params={"limit": 5})
                    ok, what = (
                        answer.status_code == 200,
                        f"{answer.status_code} {answer.text[:200]}",
                    )
                except httpx.HTTPError as exc:
                    ok, what = False, f"{type(exc).__name__}: {exc}"
                took = time.monotonic() - sent
                with self._lock:
                    self.results.append((sent - self.started, ok, took))
                    if not ok:
                        self.failures.append((round(sent - self.started, 1), what))
                if not ok:
                    time.sleep(0.05)

    def window(self, start: float, end: float) -> tuple[int, int]:
        """(requests, errors) sent in [start, end) seconds after the load started."""
        with self._lock:
            inside = [ok for t, ok, _ in self.results if start <= t < end]
        return len(inside), inside.count(False)


def _api_nodes(deployed: Deployed) -> list[str]:
    return [
        r["node_id"]
        for r in replicas(deployed.cluster)
        if r["app"] == "tellmemore" and r["deployment"] == "Api"
    ]


def _api_running(deployed: Deployed, count: int) -> bool:
    apps = deployed.cluster.get("/api/serve/applications/").get("applications", {})
    api = apps.get("tellmemore", {}).get("deployments", {}).get("Api", {})
    running = [r for r in api.get("replicas", []) if r.get("state") == "RUNNING"]
    return api.get("status") == "HEALTHY" and len(running) >= count


def test_killing_the_node_of_one_api_replica_under_load(deployed: Deployed) -> None:
    """(b) Two API replicas on two CPU nodes; one node is SIGKILLed under steady load. The
    other replica keeps answering, Serve replaces the lost one, errors stop."""
    cluster = deployed.cluster
    cluster.wait_for(lambda: _api_running(deployed, 2), "two healthy API replicas", 120)
    nodes = _api_nodes(deployed)
    assert len(set(nodes)) == 2, f"the API's replicas share a node: {nodes}"
    victim = nodes[0]
    load = _Load(deployed.url).start()
    try:
        time.sleep(20)
        killed_at = time.monotonic() - load.started
        pids = cluster.kill_node(victim)
        print(f"{killed_at:6.1f} s  killed node {victim[:12]} ({len(pids)} processes)")
        cluster.wait_for(lambda: victim not in _api_nodes(deployed) and _api_running(
            deployed, 2), "the API back at two replicas", 180, 0.5)  # fmt: skip
        recovered_at = time.monotonic() - load.started
        print(f"{recovered_at:6.1f} s  two healthy API replicas again")
        time.sleep(max(0.0, killed_at + 40 - recovered_at))
        time.sleep(15)  # the quiet period checked below
        ended = time.monotonic() - load.started
    finally:
        load.stop()
    sent, errors = load.window(killed_at - 30, killed_at + 30)
    before, before_errors = load.window(0, killed_at - 1)  # (the last second's are in flight)
    after_kill = [t for t, ok, _ in load.results if not ok and t >= killed_at]
    last_error = max(after_kill, default=killed_at) - killed_at
    tail, tail_errors = load.window(ended - 15, ended)
    print(
        f"minute around the kill: {sent} requests, {errors} errors "
        f"({100 * errors / max(sent, 1):.1f}%); before it: {before} requests, {before_errors} "
        f"errors; last error {last_error:.1f} s after the kill; two replicas again after "
        f"{recovered_at - killed_at:.1f} s; last 15 s: {tail} requests, {tail_errors} errors"
    )
    print(f"failed requests: {load.failures[:10]}")
    assert before_errors == 0
    # One replica of two lost: most requests of that minute still succeed...
    assert sent > 0 and errors / sent < 0.5
    # ...errors stop once Serve has noticed, and the API is whole again.
    assert tail > 0 and tail_errors == 0
    assert last_error < 60


def test_gcs_killed_serve_keeps_answering_and_the_cluster_recovers(deployed: Deployed) -> None:
    """(c) The head's GCS server is SIGKILLed under steady load and started again 20 s later
    from its external Redis: Serve answers throughout (the data path does not go through the
    GCS), and the nodes, the Serve controller and the state API are back after the restart.

    On this machine every node shares 127.0.0.1, so there is one Serve proxy (on the head)
    rather than one per node; the head's other processes stay, and what is taken away is
    what GCS fault tolerance protects: the control plane and the cluster's state."""
    cluster = deployed.cluster
    cluster.wait_for(lambda: _api_running(deployed, 2), "two healthy API replicas", 180)
    nodes_before = {n["node_id"] for n in cluster.alive_nodes()}
    load = _Load(deployed.url).start()
    try:
        time.sleep(10)
        killed_at = time.monotonic() - load.started
        gcs = cluster.kill_gcs()
        print(f"{killed_at:6.1f} s  killed the GCS server")
        time.sleep(20)
        restarted_at = time.monotonic() - load.started
        gcs.restart()
        print(f"{restarted_at:6.1f} s  GCS started again")

        def recovered() -> bool:
            alive = {n["node_id"] for n in cluster.alive_nodes()}
            return alive >= nodes_before and _api_running(deployed, 2)

        cluster.wait_for(recovered, "nodes and Serve back after the GCS restart", 180)
        recovered_at = time.monotonic() - load.started
        print(f"{recovered_at:6.1f} s  every node alive, the API healthy (state API answers)")
        # The control plane works again: the autoscaler's view over the restarted GCS.
        status = ray_cli(cluster, "status")
        time.sleep(10)
        ended = time.monotonic() - load.started
    finally:
        load.stop()
    outage, outage_errors = load.window(killed_at, restarted_at)
    after, after_errors = load.window(restarted_at, ended)
    print(
        f"GCS down {restarted_at - killed_at:.0f} s: {outage} requests, {outage_errors} errors; "
        f"after the restart: {after} requests, {after_errors} errors; cluster whole again "
        f"{recovered_at - restarted_at:.1f} s after the restart"
    )
    print(f"failed requests: {load.failures[:10]}")
    assert "Active:" in status, status
    assert outage > 0 and outage_errors == 0
    assert after > 0 and after_errors == 0
