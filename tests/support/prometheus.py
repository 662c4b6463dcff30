"""A real Prometheus server on 127.0.0.1 (the binary from Debian's package that
``scripts/dev.sh`` unpacks next to promtool), scraping a metrics endpoint with the project's
alert rules loaded, so tests can run the dashboard's and the rules' queries on live data."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml  # type: ignore[import-untyped]

from tests.support.monitoring import RULES, promtool


def prometheus_binary() -> Path | None:
    tool = promtool()
    binary = tool.parent / "prometheus" if tool else None
    return binary if binary and binary.is_file() else None


@dataclass(frozen=True)
class Prometheus:
    url: str

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's result vector; raises when Prometheus refuses the query."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        body = response.json()
        if response.status_code != 200 or body.get("status") != "success":
            raise AssertionError(f"{promql}: {body.get('error', response.text)}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def targets_up(self) -> bool:
        body = httpx.get(f"{self.url}/api/v1/targets", timeout=10).json()
        active = body["data"]["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)


@contextmanager
def running_prometheus(binary: Path, metrics_url: str, workdir: Path) -> Iterator[Prometheus]:
    """Scrape ``metrics_url`` every second; the rules are evaluated every second too."""
    target = urlsplit(metrics_url)
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        group["interval"] = "1s"
    (workdir / "rules.yaml").write_text(yaml.safe_dump(rules))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules.yaml"],
        "scrape_configs": [{"job_name": "ray", "metrics_path": target.path,
                            "static_configs": [{"targets": [target.netloc]}]}],
    }  # fmt: skip
    (workdir / "prometheus.yaml").write_text(yaml.safe_dump(config))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (workdir / "prometheus.log").open("w")
    process = subprocess.Popen(
        [str(binary), f"--config.file={workdir / 'prometheus.yaml'}",
         f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        server = Prometheus(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{server.url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((workdir / "prometheus.log").read_text()[-2000:])
            time.sleep(0.5)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
