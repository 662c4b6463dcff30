"""Backlog throughput of the production Serve config with 1, 2 and 3 GPU-group nodes.

For each size the cluster tier's cluster is started (tests/support/production_cluster.py: Ray's
autoscaler with fake nodes on this machine, production.yaml plus the overlay, the offline
models from the local S3 store) with the GPU group pinned at that many nodes, a podcast with a
backlog of episodes (the demo's three recordings repeated under distinct guids) is subscribed,
and the time until every episode is done is measured. The "GPUs" are resources, not devices:
the models run on this machine's two cores, so the figures show what the cluster's scheduling
and overhead cost and how work spreads over nodes, not GPU speed.

    .venv/bin/python -m bench.cluster [--episodes 6] [--nodes 1 2 3]

Needs PostgreSQL, Redis and the S3 server of `make setup` (TMM_* from .local/services.env).

The Serve ingress through production's proxy settings (HAProxy, throughput-optimised Serve, the
API's two replicas; ``bench.serve_ingress``'s ``production`` configuration) against plain
uvicorn on the same route follows with ``--ingress``, or alone with ``--ingress-only``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from tellmemore.settings import Settings
from tests.support.fake_cluster import NodeType
from tests.support.http_server import LoopbackHTTPServer
from tests.support.production_cluster import (
    CPU_GROUP,
    GPU_GROUP,
    backlog_feed,
    production_cluster,
    replicas,
)


def run_once(
    gpu_nodes: int, episodes: int, settings: Settings, feeds: LoopbackHTTPServer
) -> dict[str, float]:
    gpu = NodeType(GPU_GROUP.name, GPU_GROUP.resources, min_workers=gpu_nodes,
                   max_workers=gpu_nodes)  # fmt: skip
    extra = {"TMM_PROCESSING__ENQUEUE_NEWEST": str(episodes)}
    with tempfile.TemporaryDirectory(prefix="tmm-bench-") as folder, production_cluster(
        Path(folder), settings.database.url, settings.redis, settings.s3,
        node_types=(CPU_GROUP, gpu), extra_env=extra, quiet=True,
    ) as deployed:  # fmt: skip
        cluster = deployed.cluster
        cluster.wait_for(lambda: len(cluster.nodes_of(gpu.name)) == gpu_nodes, "GPU nodes", 120)
        feed = feeds.add(f"/bench-{uuid.uuid4().hex[:8]}/feed.xml",
                         body=backlog_feed(deployed.url, episodes))  # fmt: skip
        http = httpx.Client(base_url=deployed.url, timeout=60)
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        token = http.post("/auth/register", json={"email": email, "password": "correct horse "
                          "battery"}).json()["tokens"]["access_token"]  # fmt: skip
        http.headers["Authorization"] = f"Bearer {token}"
        started = time.monotonic()
        podcast = http.post("/podcasts", json={"feed_url": feed}).json()["podcast"]["id"]
        ids = [e["id"] for e in http.get(f"/podcasts/{podcast}/episodes",
                                         params={"limit": 100}).json()["items"]]  # fmt: skip
        most_transcribers = most_processors = 0
        while True:
            placed = replicas(cluster)
            most_transcribers = max(
                most_transcribers, sum(r["deployment"] == "Transcriber" for r in placed)
            )
            most_processors = max(
                most_processors, sum(r["deployment"] == "Processor" for r in placed)
            )
            states = [http.get(f"/episodes/{i}").json()["status"] for i in ids]
            if all(s in ("done", "failed") for s in states):
                break
            if time.monotonic() - started > 1800:
                raise TimeoutError(f"backlog not done after 30 min: {states}")
            time.sleep(2)
        took = time.monotonic() - started
        http.close()
        return {
            "gpu_nodes": gpu_nodes,
            "episodes": len(ids),
            "done": states.count("done"),
            "seconds": round(took, 1),
            "episodes_per_min": round(60 * states.count("done") / took, 2),
            "most_transcribers": most_transcribers,
            "most_processors": most_processors,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=6)
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--ingress", action="store_true", help="then the ingress ratio")
    parser.add_argument("--ingress-only", action="store_true", help="only the ingress ratio")
    args = parser.parse_args()
    if args.ingress_only:
        ingress_ratio()
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    settings = Settings()
    feeds = LoopbackHTTPServer().start()
    try:
        results = [run_once(n, args.episodes, settings, feeds) for n in args.nodes]
    finally:
        feeds.stop()
    print(f"\nbacklog of {args.episodes} demo episodes (~1 min of speech each), 2 cores:")
    print("GPU nodes | done | seconds | episodes/min | most Transcribers | most Processors")
    for r in results:
        print(
            f"{r['gpu_nodes']:9} | {r['done']:4} | {r['seconds']:7} | {r['episodes_per_min']:12} |"
            f" {r['most_transcribers']:17} | {r['most_processors']:15}"
        )
    if args.ingress:
        ingress_ratio()


def ingress_ratio() -> None:
    """bench.serve_ingress for production's proxy settings, in its own process (Ray reads
    its switches when its modules are imported)."""
    print("\nServe ingress with production's proxy settings vs plain uvicorn:", flush=True)
    subprocess.run([sys.executable, "-m", "bench.serve_ingress", "--only", "production"],
                   check=True)  # fmt: skip


if __name__ == "__main__":
    main()
