"""The production Serve config on a multi-node cluster: placement, scaling from zero and back,
and a subscribed podcast processed end to end.

One scenario in order, as an operator would watch it: deployed with the GPU group at zero,
episodes queued by a subscription bring GPU nodes up (Whisper and the LLM only there), the
episodes finish, and after the idle timeouts the GPU group is back at zero.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests.support.production_cluster import CPU_GROUP, GPU_GROUP, Deployed, dump, replicas

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

GPU_DEPLOYMENTS = ("Transcriber", "LLMServer")


def _on_gpu(replica: dict[str, Any]) -> bool:
    return any(replica["deployment"].startswith(name) for name in GPU_DEPLOYMENTS)


def _check_placement(deployed: Deployed) -> list[dict[str, Any]]:
    """Every replica off the head; Whisper and LLM replicas on GPU-group nodes only."""
    cluster = deployed.cluster
    nodes = cluster.alive_nodes()
    head = {n["node_id"] for n in nodes if n.get("is_head_node")}
    gpu_nodes = {n["node_id"] for n in cluster.nodes_of(GPU_GROUP.name)}
    placed = replicas(cluster)
    assert not [r for r in placed if r["node_id"] in head], f"replicas on the head: {placed}"
    wrong = [r for r in placed if _on_gpu(r) and r["node_id"] not in gpu_nodes]
    assert not wrong, f"model replicas outside the GPU group: {dump(wrong)}"
    return placed


def _processors(placed: list[dict[str, Any]]) -> int:
    return sum(1 for r in placed if r["app"] == "tellmemore" and r["deployment"] == "Processor")


def _signed_in(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=60)
    email = f"listener-{uuid.uuid4().hex[:8]}@example.com"
    answer = client.post(
        "/auth/register", json={"email": email, "password": "correct horse battery"}
    )
    assert answer.status_code == 201, answer.text
    client.headers["Authorization"] = f"Bearer {answer.json()['tokens']['access_token']}"
    return client


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

    http = _signed_in(deployed.url)
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
