"""``tmm-serve run`` (what ``make run`` runs) stops cleanly and quickly: Ctrl-C hands the
processor's running episodes back and stops the whole private Ray cluster within 15 s (Serve's
own graceful shutdown took 30 s and more)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.serve.conftest import free_port

pytestmark = [pytest.mark.serve, pytest.mark.slow]

TMM_SERVE = Path(os.environ.get("VIRTUAL_ENV", ".venv")) / "bin" / "tmm-serve"


def test_ctrl_c_stops_everything_within_15_seconds(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "TMM_DATABASE__URL": database_url, "TMM_API__PORT": str(port),
           "TMM_LANCE__LOCATION": str(tmp_path / "lance")}  # fmt: skip
    log = (tmp_path / "run.log").open("w+")
    runner = subprocess.Popen([str(TMM_SERVE), "run", "--no-llm", "--num-cpus", "6"],
                              env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while "Ctrl-C stops it" not in Path(log.name).read_text():
            assert runner.poll() is None, Path(log.name).read_text()[-3000:]
            assert time.monotonic() < deadline, "tmm-serve run did not come up"
            time.sleep(1)
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200

        started = time.monotonic()
        runner.send_signal(signal.SIGINT)
        runner.wait(timeout=60)
        took = time.monotonic() - started
        output = Path(log.name).read_text()
        print(f"\ntmm-serve run stopped in {took:.1f} s: {output.splitlines()[-1]}")
        assert took < 15, output[-3000:]
        assert "processor replicas drained" in output
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)  # our own process group, nothing else
            runner.wait()
        log.close()
