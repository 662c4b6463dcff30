"""Faults on the production Serve config, as Ray's own chaos tests make them: a GPU group with
no capacity at all, a node carrying one of the two API replicas killed under load, and the
whole head node killed and brought back.

One cluster for the module, shaped like production but with two CPU nodes (so the API's two
replicas can be on different nodes) and a GPU group that can never get a node, as when a spot
market has no capacity; its GCS keeps its state in a Redis of its own (GCS fault tolerance, as
KubeRay configures it), so the last test can take the head away and bring it back. Proxies run
on every node, as production.yaml has it; the nodes share 127.0.0.1 here and the proxies share
the port (``SO_REUSEPORT``), so the kernel spreads connections among the live ones, as the load
balancer spreads them among the pods. Each test prints its figures.
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


def _proxies(deployed: Deployed) -> dict[str, str]:
    """node id -> proxy status, from the Serve controller's own view."""
    proxies = deployed.cluster.get("/api/serve/applications/").get("proxies", {})
    return {node: p.get("status", "") for node, p in proxies.items()}


# What test (c) saw while the head was down, for the test after it.
_HEAD_OUTAGE: dict[str, int] = {}


def test_head_killed_and_back_the_cluster_recovers(deployed: Deployed) -> None:
    """(c) The whole head node is SIGKILLed under steady load (its GCS, raylet, dashboard,
    autoscaler, the Serve controller and the head's proxy) and a new head is started 20 s later,
    as KubeRay starts a new head pod. The restarted GCS reads the cluster's state back from its
    Redis, the worker nodes' raylets reconnect, the Serve controller comes back and restarts the
    head's proxy, and every request after that succeeds. Requests in flight when the head dies
    fail, as they would on a lost pod."""
    cluster = deployed.cluster
    port = int(deployed.url.rsplit(":", 1)[1])
    cluster.wait_for(lambda: _api_running(deployed, 2), "two healthy API replicas", 180)
    worker_nodes = {n["node_id"] for n in cluster.nodes_of(CPU_GROUP.name)}
    cluster.wait_for(
        lambda: worker_nodes <= {n for n, s in _proxies(deployed).items() if s == "HEALTHY"},
        "a healthy proxy on each CPU node", 120,
    )  # fmt: skip
    listening, head = cluster.listeners(port), cluster.head_pids()
    print(f"listening on :{port}: {len(listening - head)} worker-node proxies, "
          f"{len(listening & head)} on the head")  # fmt: skip
    assert listening & head and listening - head
    load = _Load(deployed.url).start()
    try:
        time.sleep(10)
        killed_at = time.monotonic() - load.started
        pids = cluster.kill_head()
        print(f"{killed_at:6.1f} s  killed the head node ({len(pids)} processes)")
        # Who answers now: the worker nodes' proxies only.
        assert cluster.listeners(port), "no proxy left on the port"
        time.sleep(20)
        restarted_at = time.monotonic() - load.started
        cluster.restart_head(timeout_s=180)
        print(f"{restarted_at:6.1f} s  head started again (node id ...{cluster.head_node_id[-5:]})")

        last_said = [0.0]

        def recovered() -> bool:
            try:  # the new head's dashboard answers before Serve's controller is back
                alive = {n["node_id"] for n in cluster.alive_nodes()}
                api: bool | str = _api_running(deployed, 2)
            except OSError as exc:
                alive, api = set(), f"dashboard: {exc}"
            head_proxy = bool(cluster.listeners(port) & cluster.head_pids())
            done = alive >= worker_nodes and api is True and head_proxy
            if not done and time.monotonic() - last_said[0] > 15:  # say what is still missing
                last_said[0] = time.monotonic()
                print(f"{time.monotonic() - load.started:6.1f} s  waiting: worker nodes "
                      f"{len(alive & worker_nodes)}/{len(worker_nodes)}, api {api}, "
                      f"head proxy {head_proxy}")  # fmt: skip
            return done

        cluster.wait_for(recovered, "worker nodes, the API and the head's proxy back", 240, 2)
        recovered_at = time.monotonic() - load.started
        print(f"{recovered_at:6.1f} s  worker nodes rejoined, the API healthy, head proxy back")
        status = ray_cli(cluster, "status")
        time.sleep(10)
        ended = time.monotonic() - load.started
    finally:
        load.stop()
    before, before_errors = load.window(0, killed_at - 1)  # (the last second's are in flight)
    outage, outage_errors = load.window(killed_at, restarted_at)
    settled, settled_errors = load.window(killed_at + 5, restarted_at)
    after, after_errors = load.window(recovered_at, ended)
    print(
        f"before: {before} requests, {before_errors} errors; head down "
        f"{restarted_at - killed_at:.0f} s: {outage} requests through the worker proxies, "
        f"{outage_errors} errors ({settled_errors} of {settled} later than 5 s after the kill); "
        f"cluster whole again {recovered_at - restarted_at:.1f} s after the restart; after "
        f"that: {after} requests, {after_errors} errors"
    )
    print(f"failed requests: {load.failures[:10]}")
    _HEAD_OUTAGE.update(settled=settled, settled_errors=settled_errors)
    assert "Active:" in status, status
    assert before_errors == 0
    assert after > 0 and after_errors == 0


@pytest.mark.xfail(
    strict=False,
    reason="intermittent, cause not found yet (issue 18 (c)): in one run of two the requests a "
    "worker node's proxy handed to a replica while the head was down hung until the GCS was "
    "back (1 of 14 answered); in the other 1,196 of 1,198 were answered",
)
def test_while_the_head_is_down_the_worker_proxies_keep_answering() -> None:
    """(c) The part of GCS fault tolerance a listener feels: with the head gone, the worker
    nodes' proxies (sharing the port, as pods behind the load balancer) answer every request
    sent later than 5 s after the kill."""
    if not _HEAD_OUTAGE:
        pytest.skip("the head-kill test did not get as far as the outage")
    assert _HEAD_OUTAGE["settled"] > 0 and _HEAD_OUTAGE["settled_errors"] == 0
