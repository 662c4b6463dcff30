"""Tell Me More's production Serve config on a multi-node Ray cluster from Ray's own
autoscaler, for the cluster tier and ``bench/cluster.py``.

:func:`production_cluster` gives the cluster a database, a Redis prefix and a LanceDB prefix of
its own (its processor never takes another test's jobs), publishes the offline models to the
local S3 store with ``tmm models publish`` as an operator publishes production's, starts a
:class:`~tests.support.fake_cluster.FakeCluster` shaped like production (a head that takes no
work, a CPU group, a GPU group from zero carrying ``GPU`` and ``accelerator_type:A10G``), and
deploys ``cluster/serve/production.yaml`` with ``tests/cluster/overlay.yaml`` on top through
``serve deploy`` against the head's dashboard.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import yaml  # type: ignore[import-untyped]
from psycopg import sql
from psycopg.conninfo import make_conninfo

from serve_apps.kuberay import CPU_GROUP_RESOURCE, CPU_GROUP_SLOTS
from tellmemore.settings import RedisSettings, S3Settings
from tellmemore.storage import migrate
from tests.support import serve_overlay
from tests.support.fake_cluster import RAY, FakeCluster, NodeType, free_port

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = ROOT / "tests" / "cluster" / "overlay.yaml"
# The JWT secret Kubernetes Secrets would provide (tests only).
JWT_SECRET = "cluster-tier-jwt-secret-0123456789abcdef"
SERVE = ROOT / ".venv" / "bin" / "serve"

# The groups of serve_apps/kuberay.py, sized for this machine: Ray's CPU counts are logical,
# so an 8-CPU node is fine on 2 cores as long as the replicas mostly wait. CPU nodes declare
# the custom resource production's CPU-only deployments ask for, which keeps them off the GPU
# nodes (where they would take Whisper's CPUs and keep the node from going idle).
CPU_GROUP = NodeType(
    "cpu", {"CPU": 8.0, CPU_GROUP_RESOURCE: float(CPU_GROUP_SLOTS)}, min_workers=1, max_workers=1
)
GPU_GROUP = NodeType(
    "gpu-spot", {"CPU": 2.0, "GPU": 1.0, "accelerator_type:A10G": 1.0}, min_workers=0,
    max_workers=3,
)  # fmt: skip


@dataclass(frozen=True)
class Deployed:
    cluster: FakeCluster
    url: str  # the Serve proxies, one per node on one port (the API at /; the LLM behind /llm/v1)
    config: dict[str, Any]
    database_url: str


def _fresh_database(server: str) -> str:
    name = f"tmm_cluster_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(make_conninfo(server, dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(server, dbname=name)
    import asyncio

    asyncio.run(migrate(url))
    return url


def _drop_database(url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(name)))
        )


def node_env(
    database_url: str, redis: RedisSettings, s3: S3Settings, *, port: int, cache: Path
) -> dict[str, str]:
    """What Kubernetes Secrets and the pod spec give every Ray container in production."""
    env = {
        "TMM_DATABASE__URL": database_url,
        "TMM_REDIS__URL": redis.url,
        "TMM_REDIS__KEY_PREFIX": f"tmm-cluster-{uuid.uuid4().hex[:8]}:",
        "TMM_S3__ENDPOINT_URL": s3.endpoint_url or "",
        "TMM_S3__BUCKET": s3.bucket,
        "TMM_LANCE__PREFIX": f"lance-cluster-{uuid.uuid4().hex[:8]}",
        "TMM_AUTH__JWT_SECRET": JWT_SECRET,
        "TMM_AUTH__BCRYPT_ROUNDS": "4",
        "TMM_API__PORT": str(port),
        "TMM_RATE_LIMIT__PER_USER_PER_MINUTE": "100000",
        "TMM_RATE_LIMIT__PER_IP_PER_MINUTE": "100000",
        "TMM_RATE_LIMIT__AUTH_PER_MINUTE": "100000",
        "TMM_PROCESSING__BACKOFF_BASE_S": "1",
        "TMM_PROCESSING__BACKOFF_MAX_S": "2",
        "TMM_PROCESSING__LEASE_S": "20",
        "TMM_PROCESSING__POLL_S": "1",
        "TMM_MODELS__DIR": str(ROOT / ".local" / "models"),
        "TMM_MODELS__CACHE_DIR": str(cache),
    }
    keys = s3.static_keys() if hasattr(s3, "static_keys") else None
    if keys is not None:
        env["TMM_S3__ACCESS_KEY_ID"], env["TMM_S3__SECRET_ACCESS_KEY"] = keys
    return env


def publish_models(env: dict[str, str]) -> dict[str, str]:
    """The offline models published to this cluster's S3 store with ``tmm models publish``, as
    an operator publishes production's: the settings that name them (pinned URIs)."""
    uris = {}
    for prepared, setting in (
        ("whisper-tiny.en", "TMM_MODELS__WHISPER__MODEL"),
        ("llm", "TMM_MODELS__LLM__MODEL"),
        ("embedder", "TMM_MODELS__EMBEDDER__MODEL"),
    ):
        out = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "tmm"), "models", "publish", "--prepared", prepared],
            env={**os.environ, **env}, check=True, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        uris[setting] = json.loads(out.stdout)["uri"]
    return uris


def serve_deploy(cluster: FakeCluster, config: dict[str, Any], folder: Path) -> None:
    """``serve deploy`` of ``config`` through the head's dashboard (what KubeRay does too)."""
    path = folder / "deployed.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    done = subprocess.run(
        [str(SERVE), "deploy", str(path), "--address", cluster.dashboard_url],
        env=cluster.process_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(f"serve deploy failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


def serve_status(cluster: FakeCluster) -> dict[str, Any]:
    """Applications and deployments with their status, from the dashboard's Serve API."""
    body: dict[str, Any] = cluster.get("/api/serve/applications/")
    return body


def apps_running(cluster: FakeCluster, names: tuple[str, ...]) -> bool:
    apps = serve_status(cluster).get("applications", {})
    return all(apps.get(name, {}).get("status") == "RUNNING" for name in names)


def replicas(cluster: FakeCluster) -> list[dict[str, Any]]:
    """Live Serve replica actors: ``(app, deployment, node id)`` from the state API."""
    found = []
    for actor in cluster.actors():
        name = actor.get("class_name", "")
        if name.startswith("ServeReplica:"):
            _, app, deployment = name.split(":", 2)
            found.append({"app": app, "deployment": deployment, "node_id": actor["node_id"]})
    return found


DEMO_AUDIO = ("tmm-demo-0001.mp3", "tmm-demo-0002.mp3", "tmm-demo-0003.mp3")


def backlog_feed(api: str, episodes: int) -> bytes:
    """An RSS feed of ``episodes`` items over the demo recordings that the API serves itself,
    under distinct guids and without publisher transcripts: every one needs Whisper."""
    items = "".join(
        f"""<item><title>Backlog {i}</title><guid isPermaLink="false">backlog-{i}</guid>
        <pubDate>Mon, 02 Nov 2026 09:{i:02d}:00 +0000</pubDate>
        <enclosure url="{api}/demo/audio/{DEMO_AUDIO[i % 3]}" length="1" type="audio/mpeg"/>
        </item>"""
        for i in range(episodes)
    )
    return (
        f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Backlog</title>
        <link>{api}</link><description>A backlog of the demo recordings</description>{items}
        </channel></rss>"""
    ).encode()


def signed_in(deployed: Deployed) -> httpx.Client:
    """An HTTP client for the deployed API with a fresh listener signed in, whose email is
    verified (production processes only verified accounts' subscriptions; there is no mail
    server to carry the link here, so the test marks what following it would)."""
    client = httpx.Client(base_url=deployed.url, timeout=60)
    email = f"listener-{uuid.uuid4().hex[:8]}@example.com"
    answer = client.post(
        "/auth/register", json={"email": email, "password": "correct horse battery"}
    )
    assert answer.status_code == 201, answer.text
    with psycopg.connect(deployed.database_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET email_verified_at = now() WHERE email = %s", (email,))
    client.headers["Authorization"] = f"Bearer {answer.json()['tokens']['access_token']}"
    return client


def ray_cli(cluster: FakeCluster, *args: str) -> str:
    out = subprocess.run(
        [str(RAY), *args, "--address", cluster.address],
        env=cluster.process_env(), check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return out.stdout


def dump(value: Any) -> str:
    return json.dumps(value, indent=1, default=str)


@contextmanager
def production_cluster(
    folder: Path,
    database_server: str,
    redis: RedisSettings,
    s3: S3Settings,
    *,
    node_types: Sequence[NodeType] = (CPU_GROUP, GPU_GROUP),
    extra_env: dict[str, str] | None = None,
    quiet: bool = False,
) -> Iterator[Deployed]:
    """A fresh database, the offline models published, the cluster started and production.yaml
    plus the overlay deployed and RUNNING; everything stopped (only this cluster's processes)
    and dropped on exit."""
    db = _fresh_database(database_server)
    port = free_port()
    cluster = FakeCluster(
        list(node_types),
        env={**node_env(db, redis, s3, port=port, cache=folder / "model-cache"),
             **(extra_env or {})},
        idle_timeout_s=15,
    )  # fmt: skip
    try:
        models = publish_models(cluster.env)
        cluster.start()
        env = {"runtime_env": {"env_vars": models}}
        config = serve_overlay.apply(
            OVERLAY,
            {
                "http_options": {"port": port},
                "applications": [{"name": "llm", **env}, {"name": "tellmemore", **env}],
            },
        )
        if not quiet:
            print("\nproduction.yaml -> deployed (overlay.yaml):\n" + serve_overlay.diff(config))
        serve_deploy(cluster, config, folder)
        cluster.wait_for(
            lambda: apps_running(cluster, ("llm", "tellmemore")), "both apps RUNNING", 600, 2
        )
        yield Deployed(cluster, f"http://127.0.0.1:{port}", config, db)
    finally:
        started = time.monotonic()
        cluster.stop()
        if not quiet:
            print(f"cluster stopped in {time.monotonic() - started:.1f} s")
        _drop_database(db)
