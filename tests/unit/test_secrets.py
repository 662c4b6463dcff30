# ruff: noqa: S301  (unpickling our own pickles is the point)
"""Settings cross process boundaries (Serve init arguments, Ray Data actors) without their
secrets: a pickle carries none, and the receiving process reads them from its environment."""

from __future__ import annotations

import pickle
from typing import Any

import cloudpickle  # type: ignore[import-untyped]
import pytest
from pydantic import SecretStr

from tellmemore.settings import Settings, secret_environment
from tellmemore.settings.pickling import env_name, restore_secrets, secret_paths

pytestmark = pytest.mark.unit

SECRETS = {
    "jwt": "jwt-secret-" + "x" * 32,
    "s3": "s3-secret-key-123",
    "smtp": "smtp-password-456",
    "email_api": "email-api-key-789",
    "metrics": "metrics-token-abc",
    "llm": "llm-api-key-def",
    "db": "db-password-ghi",
    "redis": "redis-password-jkl",
}


def _settings() -> Settings:
    return Settings(
        environment="production",
        auth={"jwt_secret": SECRETS["jwt"]},
        s3={"access_key_id": "AKIATEST", "secret_access_key": SECRETS["s3"]},
        email={"smtp_password": SECRETS["smtp"], "http_api_key": SECRETS["email_api"]},
        api={"metrics_token": SECRETS["metrics"]},
        models={"llm": {"api_key": SECRETS["llm"]}},
        database={"url": f"postgresql://app:{SECRETS['db']}@db.internal:5432/tellmemore"},
        redis={"url": f"redis://:{SECRETS['redis']}@redis.internal:6379/0"},
    )


def test_every_secret_field_is_known() -> None:
    """New SecretStr fields are covered without anyone remembering to list them."""
    found = {".".join(path) for path in secret_paths(Settings)}
    assert found >= {"auth.jwt_secret", "s3.secret_access_key", "email.smtp_password",
                     "email.http_api_key", "api.metrics_token", "models.llm.api_key"}  # fmt: skip


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
def test_a_pickle_carries_no_secret(dumps: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in secret_environment(_settings()):
        monkeypatch.delenv(key, raising=False)
    settings = _settings()
    data = dumps(settings)
    leaked = [name for name, value in SECRETS.items() if value.encode() in data]
    assert leaked == []
    # The original keeps its secrets: only the pickle is bare.
    assert settings.jwt_secret() == SECRETS["jwt"]
    assert SECRETS["db"] in settings.database.url

    bare = pickle.loads(data)
    assert bare.auth.jwt_secret is None and bare.s3.secret_access_key is None
    assert bare.database.url == "postgresql://app@db.internal:5432/tellmemore"
    assert bare.models.llm.api_key.get_secret_value() == "not-needed"  # the field's default
    with pytest.raises(RuntimeError, match="TMM_AUTH__JWT_SECRET"):
        bare.jwt_secret()  # never a random key that rejects every other process's tokens


def test_the_receiving_process_reads_them_from_its_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = _settings()
    environment = secret_environment(settings)
    assert environment[env_name(("auth", "jwt_secret"))] == SECRETS["jwt"]
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    copy = pickle.loads(pickle.dumps(settings))
    assert copy.jwt_secret() == SECRETS["jwt"]
    assert copy.s3.static_keys() == ("AKIATEST", SECRETS["s3"])
    assert copy.email.smtp_password == SecretStr(SECRETS["smtp"])
    assert copy.database.url == settings.database.url
    assert copy.redis.url == settings.redis.url


def test_a_url_password_is_restored_only_for_the_same_server() -> None:
    bare = pickle.loads(pickle.dumps(_settings()))
    restore_secrets(bare, {"TMM_DATABASE__URL": "postgresql://app:other@elsewhere:5432/tellmemore",
                           "TMM_REDIS__URL": "redis://:pw@redis.internal:6379/1"})  # fmt: skip
    assert bare.database.url == "postgresql://app@db.internal:5432/tellmemore"
    assert bare.redis.url == "redis://redis.internal:6379/0"


def test_serve_init_arguments_carry_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The application the builder binds, pickled as Serve pickles it."""
    from serve_apps.builder import AppOptions, compose

    for key in secret_environment(_settings()):
        monkeypatch.delenv(key, raising=False)
    data = cloudpickle.dumps(compose(_settings(), AppOptions()))
    assert [name for name, value in SECRETS.items() if value.encode() in data] == []
