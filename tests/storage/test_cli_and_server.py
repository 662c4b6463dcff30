"""The ``tmm`` command and the API under uvicorn, as a user runs them (real processes)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tellmemore.settings import RedisSettings
from tests.conftest import opml_fixture
from tests.support.apple import FakeApple
from tests.support.http_server import LoopbackHTTPServer

pytestmark = pytest.mark.slow
TMM = str(Path(sys.executable).with_name("tmm"))


@pytest.fixture
def cli_env(
    database_url: str,
    apple_server: LoopbackHTTPServer,
    redis_settings: RedisSettings,
    clean_db: None,
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TMM_")}
    env.update(
        TMM_DATABASE__URL=database_url,
        TMM_REDIS__URL=redis_settings.url,
        TMM_REDIS__KEY_PREFIX=redis_settings.key_prefix + "processes:",
        TMM_AUTH__BCRYPT_ROUNDS="4",
        TMM_FEEDS__ALLOW_PRIVATE_HOSTS="true",
        TMM_FEEDS__READ_TIMEOUT_S="2",
        TMM_APPLE__BASE_URL=apple_server.base_url,
    )
    return env


def tmm(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [TMM, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    if ok:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_cli_catalog_commands(
    cli_env: dict[str, str],
    feeds: LoopbackHTTPServer,
    fake_apple: FakeApple,
    tmp_path: Path,
) -> None:
    assert "already at version" in tmm(cli_env, "db", "migrate").stdout
    assert '"pending": []' in tmm(cli_env, "db", "status").stdout
    added = tmm(cli_env, "podcasts", "add", feeds.url("/feeds/basic.xml")).stdout
    assert "added 'Gene Editing Today'" in added and "with 3 episodes" in added
    assert (
        "Ocean Currents Weekly"
        in tmm(cli_env, "podcasts", "add", "--apple-id", "1470000002").stdout
    )
    dup = tmm(cli_env, "podcasts", "add", feeds.url("/feeds/basic.xml"), ok=False)
    assert dup.returncode == 1 and "[podcast_exists]" in dup.stderr

    found = tmm(cli_env, "apple", "search", "gene").stdout
    assert "Gene Editing Today" in found and "in catalog" in found and "no public feed" in found

    feeds.add("/feeds/atom.xml", status=500, body=b"down")
    refreshed = tmm(cli_env, "feeds", "refresh").stdout
    assert "FAILED [feed_http_error]" in refreshed and "not modified" in refreshed
    listing = tmm(cli_env, "podcasts", "list").stdout
    assert "[feed_http_error]  Ocean Currents Weekly" in listing

    out = tmp_path / "catalog.opml"
    tmm(cli_env, "opml", "export", "-o", str(out))
    assert out.read_text().count("<outline") == 2
    broken = tmp_path / "broken.opml"
    broken.write_bytes(opml_fixture("broken.opml", feeds))
    imported = tmm(cli_env, "opml", "import", str(broken)).stdout
    assert "0 added, 2 already there, 6 failed" in imported


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def api_server(cli_env: dict[str, str]) -> Iterator[tuple[str, dict[str, str]]]:
    port = _free_port()
    env = {**cli_env, "TMM_DEMO__ENABLED": "true", "TMM_API__PORT": str(port)}
    proc = subprocess.Popen(
        [TMM, "api", "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "API did not start"
            time.sleep(0.2)
        yield base, env
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_api_under_uvicorn_with_the_demo_podcast(api_server: tuple[str, dict[str, str]]) -> None:
    base, env = api_server
    assert httpx.get(base + "/ready").json()["status"] == "ready"
    assert "3 episodes" in tmm(env, "demo", "load").stdout
    podcasts = httpx.get(base + "/podcasts").json()["items"]
    assert [p["title"] for p in podcasts] == ["Tell Me More Demo: Curious Minutes"]
    demo = podcasts[0]
    assert demo["feed_url"] == base + "/demo/feed.xml"
    # The demo feed is really served, so refreshing it works end to end.
    account = httpx.post(
        base + "/auth/register",
        json={"email": "newcomer@example.com", "password": "correct horse battery"},
    )
    assert account.status_code == 201, account.text
    auth = {"Authorization": "Bearer " + account.json()["tokens"]["access_token"]}
    refreshed = httpx.post(f"{base}/podcasts/{demo['id']}/refresh", headers=auth).json()
    assert refreshed["not_modified"] is True
    episodes = httpx.get(f"{base}/podcasts/{demo['id']}/episodes").json()["items"]
    assert [e["episode_number"] for e in episodes] == [3, 2, 1]
    spec = httpx.get(base + "/openapi.json").json()
    assert {"/podcasts", "/podcasts/{podcast_id}/episodes", "/discover/apple",
            "/opml/import", "/opml/export", "/health", "/ready"} <= set(spec["paths"])  # fmt: skip


def test_the_api_refuses_to_start_in_production_without_a_secret(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "TMM_ENVIRONMENT": "production"}
    for secret in (None, "changeme"):
        if secret:
            env["TMM_AUTH__JWT_SECRET"] = secret
        refused = tmm(env, "api", "serve", ok=False)
        assert refused.returncode == 2
        assert "TMM_AUTH__JWT_SECRET" in refused.stderr
