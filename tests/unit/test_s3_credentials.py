"""S3 credentials: static keys when configured, else AWS's default credential chain (an IAM role
through IRSA or the instance profile) for boto3 and for Lance; the local server's keys reach the
app only through the env file ``tmm local up`` writes. No network: boto3 resolves keys from the
environment when the client is built, and the instance-metadata lookup is switched off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError
from typer.testing import CliRunner

import cli.local
from cli.main import app
from tellmemore.index.connection import storage_options
from tellmemore.ops.local_services import LOCAL_S3_ACCESS_KEY, LOCAL_S3_SECRET_KEY
from tellmemore.ops.local_services import PostgresTarget as Target
from tellmemore.settings import S3Settings, Settings
from tellmemore.storage import make_s3_client

KEYS = {"access_key_id": "AKIDSETTINGS", "secret_access_key": SecretStr("settings-secret")}


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What an IAM role looks like to boto3's chain here: AWS_* variables (IRSA's web identity
    and the instance profile come later in the same chain); no ~/.aws, no metadata service."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMCHAIN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "chain-secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _access_key(client: Any) -> str:
    key: str = client._request_signer._credentials.get_frozen_credentials().access_key
    return key


@pytest.mark.usefixtures("aws_env")
def test_without_keys_boto3_uses_the_default_chain() -> None:
    assert _access_key(make_s3_client(S3Settings())) == "AKIDFROMCHAIN"


@pytest.mark.usefixtures("aws_env")
def test_configured_keys_are_passed_explicitly() -> None:
    assert _access_key(make_s3_client(S3Settings(**KEYS))) == "AKIDSETTINGS"


def test_lance_gets_keys_only_when_configured() -> None:
    bare = storage_options(S3Settings(endpoint_url=None))
    assert bare == {"aws_region": "us-east-1"}  # object_store's own chain applies
    local = storage_options(S3Settings(**KEYS))
    assert local["aws_access_key_id"] == "AKIDSETTINGS"
    assert local["aws_secret_access_key"] == "settings-secret"
    assert local["aws_endpoint"] == "http://127.0.0.1:8333" and local["allow_http"] == "true"


def test_keys_come_in_pairs_and_empty_means_unset() -> None:
    with pytest.raises(ValidationError, match="both"):
        S3Settings(access_key_id="AKIDONLY")
    empty = S3Settings(access_key_id="", secret_access_key=SecretStr(""))
    assert empty.static_keys() is None


def test_production_has_no_development_keys_to_fall_back_to(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    for name in ("TMM_S3__ACCESS_KEY_ID", "TMM_S3__SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(environment="production", auth={"jwt_secret": "p" * 40})
    assert settings.s3.static_keys() is None
    assert LOCAL_S3_ACCESS_KEY not in storage_options(settings.s3).values()


def _fake_services(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    started: list[tuple[str, str]] = []
    monkeypatch.setattr(cli.local, "ensure_postgres", lambda url, _: Target(url, False))
    monkeypatch.setattr(cli.local, "ensure_redis", lambda url, _: url)

    def ensure_s3(url: str, access: str, secret: str, _: Path) -> str:
        started.append((access, secret))
        return url

    monkeypatch.setattr(cli.local, "ensure_s3", ensure_s3)
    return started


@pytest.mark.parametrize("configured", [False, True], ids=["development pair", "configured"])
def test_local_up_writes_the_keys_it_started_s3_with(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, configured: bool
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("TMM_S3__ACCESS_KEY_ID", "TMM_S3__SECRET_ACCESS_KEY", "TMM_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    if configured:
        monkeypatch.setenv("TMM_S3__ACCESS_KEY_ID", "mine")
        monkeypatch.setenv("TMM_S3__SECRET_ACCESS_KEY", "mine-secret")
    started = _fake_services(monkeypatch)
    env_file = tmp_path / "services.env"
    result = CliRunner().invoke(app, ["local", "up", "--env-file", str(env_file)])
    assert result.exit_code == 0, result.output
    keys = ("mine", "mine-secret") if configured else (LOCAL_S3_ACCESS_KEY, LOCAL_S3_SECRET_KEY)
    assert started == [keys]
    lines = env_file.read_text().splitlines()
    assert f"TMM_S3__ACCESS_KEY_ID={keys[0]}" in lines
    assert f"TMM_S3__SECRET_ACCESS_KEY={keys[1]}" in lines
    # What `make run` / `make test` then build their settings from.
    monkeypatch.setenv("TMM_S3__ACCESS_KEY_ID", keys[0])
    monkeypatch.setenv("TMM_S3__SECRET_ACCESS_KEY", keys[1])
    assert Settings().s3.static_keys() == keys


def test_local_up_refuses_production(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMM_ENVIRONMENT", "production")
    monkeypatch.setenv("TMM_AUTH__JWT_SECRET", "p" * 40)
    started = _fake_services(monkeypatch)
    result = CliRunner().invoke(app, ["local", "up", "--env-file", str(tmp_path / "e.env")])
    assert result.exit_code == 1 and started == []
    assert not (tmp_path / "e.env").exists()
