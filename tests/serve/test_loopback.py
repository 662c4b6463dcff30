"""Everything the local stack starts listens on loopback only.

A local Ray cluster has no authentication: whoever reaches its GCS, raylet or dashboard agent
can run code on this machine. Ray resolves a ``127.0.0.1`` node address to the machine's own
address when its cluster switch is on (read once, when Ray is first imported, which LanceDB and
the Serve modules do long before ``raykit.local.start_ray``), and then binds every interface.
"""

from __future__ import annotations

import ipaddress
import os

import psutil
import pytest

from tests.support.stack import Online

Listener = tuple[str, int, str]  # address, port, process name


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _listeners() -> list[Listener]:
    """TCP listeners of this test process and everything it started (Ray's processes)."""
    ours = {os.getpid()} | {p.pid for p in psutil.Process().children(recursive=True)}
    return [
        (c.laddr.ip, c.laddr.port, psutil.Process(c.pid).name())
        for c in psutil.net_connections("tcp")
        if c.status == psutil.CONN_LISTEN and c.pid in ours
    ]


def _replica(listener: Listener) -> bool:
    return listener[2].startswith("ray::ServeReplica")


def test_the_ray_cluster_and_serve_listen_on_loopback_only(online: Online) -> None:
    listeners = _listeners()
    names = {name for _, _, name in listeners}
    # The stack is up: the GCS, a raylet, Serve's proxy among this session's listeners, and
    # HAProxy in front (its stats and metrics binds moved to loopback by raykit's wrapper).
    assert {"gcs_server", "raylet", "haproxy"} <= names, listeners
    assert len(listeners) >= 8, listeners
    exposed = [entry for entry in listeners if not _loopback(entry[0]) and not _replica(entry)]
    assert exposed == [], f"listening beyond loopback: {exposed}"


@pytest.mark.xfail(
    strict=True,
    reason="Ray Serve binds each replica's inter-deployment gRPC server on [::] "
    "(ray/serve/_private/replica.py), with no setting to change it",
)
def test_serve_replicas_internal_grpc_listens_on_loopback(online: Online) -> None:
    replicas = [entry for entry in _listeners() if _replica(entry)]
    assert replicas, "no Serve replica is listening"
    exposed = [entry for entry in replicas if not _loopback(entry[0])]
    assert exposed == [], f"listening beyond loopback: {exposed}"
