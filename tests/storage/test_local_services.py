"""``tmm local up --started-file`` names the servers that call started, and ``tmm local down
--only`` stops exactly those: the test command stops what it started and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import cli.common
import cli.local
from tellmemore.ops.local_services import ensure_s3, private_services_running, stop_private_s3
from tests.support.fake_cluster import free_port

pytestmark = pytest.mark.slow


def test_only_the_servers_a_run_started_are_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    endpoint = f"http://127.0.0.1:{free_port()}"
    assert private_services_running(state) == set()
    ensure_s3(endpoint, "tmm-test", "tmm-test-secret", state)
    try:
        assert private_services_running(state) == {"s3"}
        monkeypatch.setattr(cli.local, "STATE_DIR", state)
        monkeypatch.setattr(cli.common, "STATE_DIR", state)
        # A run that started nothing stops nothing, even though a server of ours runs.
        nothing = tmp_path / "started-nothing.txt"
        nothing.write_text("")
        result = CliRunner().invoke(cli.local.app, ["down", "--only", str(nothing)])
        assert result.exit_code == 0, result.output
        assert "nothing of ours" in result.output
        assert private_services_running(state) == {"s3"}
        # The run that started it stops it.
        started = tmp_path / "started.txt"
        started.write_text("s3\n")
        result = CliRunner().invoke(cli.local.app, ["down", "--only", str(started)])
        assert result.exit_code == 0 and "stopped S3" in result.output, result.output
        assert private_services_running(state) == set()
    finally:
        stop_private_s3(state)
