"""A Redis server of a test's own, on a free loopback port: the external store a Ray cluster's
GCS writes its state to for fault tolerance (as KubeRay's ``gcsFaultToleranceOptions`` points
it at one), kept apart from the Redis the app uses. Stopped by its PID."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.fake_cluster import free_port


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """Start ``redis-server`` (no persistence) and yield its ``host:port``."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (scripts/dev.sh setup installs it)")
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(folder)],
        stdout=(folder / "redis.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError as exc:
                if time.monotonic() > deadline or server.poll() is not None:
                    log = folder / "redis.log"
                    raise RuntimeError(f"redis-server did not start: {log}") from exc
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
