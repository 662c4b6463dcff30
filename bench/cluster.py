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

Known defect it exposes today: with GPU nodes present at deploy time, Serve's spread scheduling
places CPU-only replicas (processor, LLM router) on them, and the Transcriber's replica then
finds no CPU left there and waits; the backlog never finishes (seen with 1 pinned GPU node).
CPU-only deployments must be kept off the GPU group before these figures mean anything.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from tellmemore.settings import Settings
from tests.support.fake_cluster import NodeType
from tests.support.http_server import LoopbackHTTPServer
from tests.support.production_cluster import CPU_GROUP, GPU_GROUP, production_cluster, replicas

DEMO_AUDIO = ("tmm-demo-0001.mp3", "tmm-demo-0002.mp3", "tmm-demo-0003.mp3")


def backlog_feed(api: str, episodes: int) -> bytes:
    """A feed of ``episodes`` items over the demo recordings that the API serves itself."""
    items = "".join(
        f"""<item><title>Backlog {i}</title><guid isPermaLink="false">bench-{i}</guid>
        <pubDate>Mon, 02 Nov 2026 09:{i:02d}:00 +0000</pubDate>
        <enclosure url="{api}/demo/audio/{DEMO_AUDIO[i % 3]}" length="1" type="audio/mpeg"/>
        </item>"""
        for i in range(episodes)
    )
    return (
        f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Backlog</title>
        <link>{api}</link><description>bench</description>{items}</channel></rss>"""
    ).encode()


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
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
